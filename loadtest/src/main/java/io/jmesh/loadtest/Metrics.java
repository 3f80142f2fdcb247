package io.jmesh.loadtest;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;

/** One scrape of a Prometheus text endpoint (a service's {@code /metrics}), its samples summed by name and label. */
public record Metrics(List<String> lines) {

    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    /** GET {@code url}; an answer other than 200 is an {@link IOException} naming it. */
    public static Metrics scrape(String url) throws IOException, InterruptedException {
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10))
                .build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) {
            throw new IOException("GET " + url + ": " + r.statusCode());
        }
        return new Metrics(r.body().lines().filter(l -> !l.startsWith("#")).toList());
    }

    /** The sum of the series of {@code name} whose labels contain {@code label} (empty: all of them). */
    public double sum(String name, String label) {
        double total = 0;
        for (String l : lines) {
            // a series is the name, then its labels in braces or a space
            boolean named = l.startsWith(name) && l.length() > name.length()
                    && (l.charAt(name.length()) == '{' || l.charAt(name.length()) == ' ');
            if (named && l.contains(label)) {
                total += Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1));
            }
        }
        return total;
    }
}
