package io.jmesh.core.admin;

import io.jmesh.core.config.Durations;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.HttpURLConnection;
import java.net.Proxy;
import java.net.URI;
import java.net.URL;
import java.time.Duration;

/**
 * A container healthcheck for images that have no shell, curl or wget (jmesh images are {@code FROM scratch} plus
 * a Java runtime): {@code java -cp @/app/jib-classpath-file io.jmesh.core.admin.HealthProbe
 * http://127.0.0.1:15014/healthz/ready [timeout]}. Exit code 0 when the URL answers a 2xx status within the
 * timeout (default 2s), 1 otherwise (refused, timed out, any other status), 2 for bad arguments; one line on
 * stdout says why, which {@code docker inspect} shows as the healthcheck's output.
 *
 * <p>Only {@code java.base}: the probe starts a fresh JVM every interval, so it loads as little as it can.
 */
public final class HealthProbe {

    private static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(2);

    private HealthProbe() {}

    public static void main(String[] args) {
        System.exit(run(args, System.out));
    }

    /** Runs the probe; returns the exit code. */
    public static int run(String[] args, PrintStream out) {
        if (args.length < 1 || args.length > 2) {
            out.println("usage: HealthProbe http://host:port/path [timeout, e.g. 2s]");
            return 2;
        }
        URI uri;
        Duration timeout;
        try {
            uri = URI.create(args[0]);
            if (!"http".equals(uri.getScheme()) || uri.getHost() == null) {
                throw new IllegalArgumentException("expected an http:// URL with a host");
            }
            timeout = args.length == 2 ? Durations.parse(args[1]) : DEFAULT_TIMEOUT;
            if (timeout.isZero() || timeout.isNegative()) {
                throw new IllegalArgumentException("timeout must be above 0");
            }
        } catch (IllegalArgumentException e) {
            out.println("HealthProbe: bad argument: " + e.getMessage());
            return 2;
        }
        return probe(uri, timeout, out);
    }

    /** GET {@code uri}; 0 on a 2xx answer, 1 otherwise. */
    public static int probe(URI uri, Duration timeout, PrintStream out) {
        HttpURLConnection c = null;
        try {
            URL url = uri.toURL();
            c = (HttpURLConnection) url.openConnection(Proxy.NO_PROXY);
            int millis = (int) Math.min(Integer.MAX_VALUE, timeout.toMillis());
            c.setConnectTimeout(millis);
            c.setReadTimeout(millis);
            c.setInstanceFollowRedirects(false);
            c.setUseCaches(false);
            int status = c.getResponseCode();
            drain(status >= 400 ? c.getErrorStream() : c.getInputStream());
            boolean ok = status >= 200 && status < 300;
            out.println((ok ? "ok " : "not ready ") + uri + ": HTTP " + status);
            return ok ? 0 : 1;
        } catch (IOException e) {
            out.println("unreachable " + uri + ": " + e);
            return 1;
        } finally {
            if (c != null) {
                c.disconnect();
            }
        }
    }

    private static void drain(InputStream in) throws IOException {
        if (in != null) {
            try (in) {
                in.readNBytes(64 * 1024);
            }
        }
    }
}
