package io.jmesh.core.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.config.AdminConfig;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.vertx.core.Vertx;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Timeout;

/**
 * {@code /metrics} of a large registry (telemetry serves one series per Istio label set and partition: 100,000
 * series are tens of MiB of text) is written as it is produced, in bounded chunks, at the pace the scraper reads,
 * and only a bounded number of scrapes run at once.
 */
@Timeout(120)
class MetricsStreamingTest {

    private static final int SERIES = 20_000;
    /** One label value shared by every series: ~1 KiB per line of text for a few bytes of heap. */
    private static final String PAD = "p".repeat(1000);

    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private PrometheusRegistry registry = new PrometheusRegistry();
    private Vertx vertx;
    private AdminServer server;

    @BeforeEach
    void start() throws Exception {
        registry.register(new ManySeries());
        vertx = Vertx.vertx();
        server = AdminServer.builder(vertx).host("127.0.0.1").port(0).metrics(registry).build().start()
                .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @AfterEach
    void stop() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void aLargeExpositionIsWrittenInBoundedChunks() throws Exception {
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.getOutputStream().write(("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            InputStream in = new BufferedInputStream(s.getInputStream());
            Map<String, String> headers = headers(in);
            assertThat(headers).as("headers of a %d-series exposition", SERIES)
                    .containsEntry("transfer-encoding", "chunked");
            List<Integer> chunks = new ArrayList<>();
            String body = chunkedBody(in, chunks);
            assertThat(body).contains("many_series_total{i=\"" + (SERIES - 1) + "\"");
            assertThat(body.length()).isGreaterThan(SERIES * PAD.length());
            assertThat(chunks.stream().mapToInt(Integer::intValue).max().orElseThrow())
                    .as("largest chunk of %d", chunks.size()).isLessThanOrEqualTo(64 * 1024);
        }
    }

    /** 2: the default; 3: {@code admin.maxConcurrentScrapes}, for more scrapers than an HA pair of Prometheus. */
    @ParameterizedTest
    @ValueSource(ints = {2, 3})
    void scrapesBeyondTheLimitAre503UntilAStalledScraperGoesAway(int limit) throws Exception {
        if (limit != AdminConfig.DEFAULT_MAX_CONCURRENT_SCRAPES) {
            registry = new PrometheusRegistry(); // a second server registers its own counter
            registry.register(new ManySeries());
            server = AdminServer.builder(vertx).host("127.0.0.1").port(0).metrics(registry, limit).build().start()
                    .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
        List<Socket> stalled = new ArrayList<>();
        try {
            for (int i = 0; i < limit; i++) { // the limit: each reads nothing of its ~20 MiB
                Socket s = new Socket();
                s.setReceiveBufferSize(4096);
                s.connect(new InetSocketAddress("127.0.0.1", server.port()));
                s.getOutputStream().write("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                        .getBytes(StandardCharsets.US_ASCII));
                stalled.add(s);
            }
            // the stalled scrapes stay in progress (their writes wait for the scraper), so another is turned away
            await().atMost(Duration.ofSeconds(60)).until(() -> get().statusCode() == 503);
            HttpResponse<String> refused = get();
            assertThat(refused.statusCode()).isEqualTo(503);
            assertThat(refused.body()).contains(limit + " scrapes of /metrics already in progress");
            assertThat(refused.headers().firstValue("retry-after")).isPresent();
            assertThat(registry.scrape().stream()
                    .filter(m -> m.getMetadata().getPrometheusName().equals("admin_metrics_scrapes_rejected"))
                    .flatMap(m -> ((CounterSnapshot) m).getDataPoints().stream())
                    .mapToDouble(CounterDataPointSnapshot::getValue).sum()).isGreaterThanOrEqualTo(1);
        } finally {
            for (Socket s : stalled) {
                s.close();
            }
        }
        // the closed connections end their scrapes: the next one is served whole
        await().atMost(Duration.ofSeconds(60)).until(() -> get().statusCode() == 200);
        HttpResponse<String> whole = get();
        assertThat(whole.body()).contains("many_series_total{i=\"" + (SERIES - 1) + "\"");
    }

    @Test
    void anHttp10ScraperGetsTheWholeTextUntilTheConnectionCloses() throws Exception {
        try (Socket s = new Socket("127.0.0.1", server.port())) { // no chunked encoding in HTTP/1.0
            s.getOutputStream().write("GET /metrics HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            InputStream in = new BufferedInputStream(s.getInputStream());
            Map<String, String> headers = headers(in);
            assertThat(headers.get(":status")).startsWith("HTTP/1.0 200");
            assertThat(headers).doesNotContainKey("transfer-encoding");
            String body = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            assertThat(body).contains("many_series_total{i=\"" + (SERIES - 1) + "\"");
        }
    }

    @Test
    void theFormatIsStillTheOneTheScraperAsksFor() throws Exception {
        HttpResponse<String> om = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
                        + "/stats/prometheus")).header("accept", "application/openmetrics-text; version=1.0.0")
                .timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(om.headers().firstValue("content-type")).get().asString()
                .startsWith("application/openmetrics-text");
        assertThat(om.body()).contains("many_series_total{i=\"" + (SERIES - 1) + "\"").endsWith("# EOF\n");
        assertThat(get().headers().firstValue("content-type")).get().asString().startsWith("text/plain");
    }

    @Test
    void eachFamilyIsCollectedAndWrittenInTurn() throws Exception {
        ThreeFamilies three = new ThreeFamilies();
        registry.register(three);
        HttpResponse<String> om = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
                        + "/metrics")).header("accept", "application/openmetrics-text; version=1.0.0")
                .timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());

        assertThat(three.mostBuiltAtOnce).as("families one collection built").hasValue(1);
        assertThat(om.body()).contains("family_a_total 1.0", "family_b_total 2.0", "family_c_total 3.0",
                "many_series_total{i=\"" + (SERIES - 1) + "\"").endsWith("\n# EOF\n");
        assertThat(om.body().indexOf("# EOF")).as("one # EOF, at the end").isEqualTo(om.body().length() - 6);
        assertThat(om.body().indexOf("family_a_total")).isLessThan(om.body().indexOf("family_b_total"));
        assertThat(get().body()).contains("family_a_total 1.0", "family_c_total 3.0").doesNotContain("# EOF");
    }

    @Test
    void aCounterFamilyIsWrittenOnceThoughTheRegistryListsItUnderTwoNames() throws Exception {
        // the registry matches a counter by its name and by its name with _total: both are listed
        io.prometheus.metrics.core.metrics.Counter.builder().name("requests_seen_total").help("seen")
                .register(registry).inc();
        for (String accept : List.of("text/plain; version=0.0.4", "application/openmetrics-text; version=1.0.0")) {
            String body = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
                    + "/metrics")).header("accept", accept).timeout(Duration.ofSeconds(30)).build(),
                    HttpResponse.BodyHandlers.ofString()).body();
            assertThat(body.split("\n")).as(accept).filteredOn(l -> l.startsWith("requests_seen_total 1.0"))
                    .hasSize(1);
            assertThat(body.split("\n")).as(accept).filteredOn(l -> l.startsWith("# TYPE admin_metrics_scrapes"))
                    .hasSize(1);
        }
    }

    @Test
    void aCollectorThatThrowsIs500NamingItAndReleasesItsSlot() throws Exception {
        MultiCollector broken = () -> {
            throw new IllegalStateException("collector kaput");
        };
        registry.register(broken);
        for (int i = 0; i < 3; i++) { // more than the limit: a failed scrape gives its slot back
            HttpResponse<String> failed = get();
            assertThat(failed.statusCode()).isEqualTo(500);
            assertThat(failed.body()).contains("collector kaput");
        }
        registry.unregister(broken);
        assertThat(get().statusCode()).isEqualTo(200);
    }

    private HttpResponse<String> get() throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/metrics"))
                .timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** The status line and headers (names lower-cased). */
    private static Map<String, String> headers(InputStream in) throws IOException {
        Map<String, String> headers = new HashMap<>();
        String status = line(in);
        headers.put(":status", status);
        for (int i = 0; i < 100; i++) {
            String l = line(in);
            if (l.isEmpty()) {
                return headers;
            }
            int colon = l.indexOf(':');
            headers.put(l.substring(0, colon).trim().toLowerCase(Locale.ROOT), l.substring(colon + 1).trim());
        }
        throw new IOException("more than 100 headers");
    }

    /** Reads a chunked body to its end, noting each chunk's size. */
    private static String chunkedBody(InputStream in, List<Integer> sizes) throws IOException {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        for (int i = 0; i < 10_000_000; i++) {
            int size = Integer.parseInt(line(in).split(";")[0].trim(), 16);
            if (size == 0) {
                line(in); // the empty line after the last chunk
                return body.toString(StandardCharsets.UTF_8);
            }
            sizes.add(size);
            body.write(in.readNBytes(size));
            line(in);
        }
        throw new IOException("too many chunks");
    }

    private static String line(InputStream in) throws IOException {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 16_384; i++) {
            int c = in.read();
            if (c < 0) {
                throw new IOException("connection closed after: " + b);
            }
            if (c == '\n') {
                return b.toString().stripTrailing();
            }
            b.append((char) c);
        }
        throw new IOException("line too long: " + b);
    }

    /** Three one-point counters from one collector, noting how many families a collection built. */
    private static final class ThreeFamilies implements MultiCollector {
        final AtomicInteger mostBuiltAtOnce = new AtomicInteger();

        @Override
        public MetricSnapshots collect() {
            return collect(name -> true);
        }

        @Override
        public MetricSnapshots collect(Predicate<String> includedNames) {
            MetricSnapshots.Builder b = MetricSnapshots.builder();
            int built = 0;
            for (String name : getPrometheusNames()) {
                if (includedNames.test(name)) {
                    built++;
                    b.metricSnapshot(CounterSnapshot.builder().name(name).help(name)
                            .dataPoint(CounterDataPointSnapshot.builder().value(name.charAt(7) - 'a' + 1).build())
                            .build());
                }
            }
            mostBuiltAtOnce.accumulateAndGet(built, Math::max);
            return b.build();
        }

        @Override
        public List<String> getPrometheusNames() {
            return List.of("family_a", "family_b", "family_c");
        }
    }

    /** {@value #SERIES} counter series, built at each scrape as telemetry's Istio metrics are. */
    private static final class ManySeries implements MultiCollector {
        @Override
        public MetricSnapshots collect() {
            CounterSnapshot.Builder b = CounterSnapshot.builder().name("many_series").help("series");
            for (int i = 0; i < SERIES; i++) {
                b.dataPoint(CounterDataPointSnapshot.builder()
                        .labels(Labels.of("i", Integer.toString(i), "pad", PAD)).value(i).build());
            }
            return MetricSnapshots.of(b.build());
        }

        @Override
        public List<String> getPrometheusNames() {
            return List.of("many_series");
        }
    }
}
