package io.jmesh.telemetry.graph;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.telemetry.EventProducer;
import io.jmesh.telemetry.Events;
import io.jmesh.telemetry.TelemetryConfig.IngestConfig;
import io.jmesh.telemetry.TelemetryInstance;
import io.jmesh.testing.KafkaExtension;
import io.vertx.core.json.JsonObject;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * After events flowed through Kafka, {@code /graph} answers the graph and {@code /graph/ui} draws it in a real
 * headless Chromium (Debian {@code chromium}; skipped, saying so, when it is not installed).
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class GraphUiChromiumTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    @TempDir
    Path tmp;

    @Test
    void theGraphPageDrawsTheWorkloadsAndServicesThatTalked() throws Exception {
        Path chromium = findChromium();
        assumeTrue(chromium != null, "chromium is not installed (apt-get install -y chromium): page not rendered");
        IngestConfig cfg = TelemetryInstance.ingest(kafka.bootstrapServers(), KafkaExtension.uniqueTopic("graph"), "a");
        try (TelemetryInstance t = TelemetryInstance.start(cfg); EventProducer p = new EventProducer(kafka)) {
            for (int i = 0; i < 20; i++) {
                p.send(cfg.requestTopic(), "productpage", Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE,
                        Events.REVIEWS, "reviews", i == 0 ? 500 : 200, 12));
                p.send(cfg.connectionTopic(), "reviews", Events.closed(Reporter.DESTINATION, Events.REVIEWS,
                        Events.RATINGS, "ratings", 400, 100));
            }
            await().atMost(Duration.ofSeconds(60)).until(() -> t.counted() == 40);
            await().atMost(Duration.ofSeconds(30)).until(() ->
                    new JsonObject(t.get("/graph?window=5m").body()).getJsonArray("edges").size() == 4);

            JsonObject graph = new JsonObject(t.get("/graph?window=5m").body());
            assertThat(graph.getLong("windowSeconds")).isEqualTo(300);
            assertThat(graph.getJsonArray("nodes").stream().map(n -> ((JsonObject) n).getString("id")).toList())
                    .containsExactly("service:ratings.default.svc.cluster.local",
                            "service:reviews.default.svc.cluster.local", "workload:default/productpage-v1",
                            "workload:default/ratings-v1", "workload:default/reviews-v2");
            JsonObject toReviews = graph.getJsonArray("edges").stream().map(JsonObject.class::cast)
                    .filter(e -> e.getString("source").equals("workload:default/productpage-v1")).findFirst().orElseThrow();
            assertThat(toReviews.getDouble("errorRate")).isEqualTo(0.05);
            assertThat(toReviews.getString("security")).isEqualTo("mutual_tls");
            assertThat(t.get("/graph?window=banana").statusCode()).isEqualTo(400);
            assertThat(t.get("/graph?window=banana").body()).startsWith("window: banana (expected:");

            String url = t.url("/graph/ui?window=5m");
            Path png = tmp.resolve("graph.png");
            run(chromium, List.of("--screenshot=" + png, "--window-size=1200,800", url));
            assertThat(png).exists();
            assertThat(Files.size(png)).isGreaterThan(5_000);
            BufferedImage image = ImageIO.read(png.toFile());
            assertThat(image.getWidth()).isEqualTo(1200);
            assertThat(distinctColors(image)).as("a drawn graph, not a blank page").isGreaterThan(20);

            String dom = run(chromium, List.of("--dump-dom", url));
            assertThat(dom).contains("productpage-v1.default", "reviews-v2.default", "ratings-v1.default",
                    "reviews.default.svc.cluster.local", "ratings.default.svc.cluster.local");
            assertThat(dom).contains("5 nodes, 4 edges");
            assertThat(dom).containsPattern("<line [^>]*data-source=\"workload:default/productpage-v1\"");
        }
    }

    private String run(Path chromium, List<String> args) throws IOException, InterruptedException {
        Path profile = Files.createTempDirectory(tmp, "profile");
        List<String> cmd = new ArrayList<>(List.of(chromium.toString(), "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--user-data-dir=" + profile));
        cmd.addAll(args);
        Path out = tmp.resolve("chromium-" + System.nanoTime() + ".out");
        Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(ProcessBuilder.Redirect.DISCARD)
                .start();
        if (!p.waitFor(90, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("chromium did not finish within 90 s: " + cmd);
        }
        assertThat(p.exitValue()).as("chromium exit code").isZero();
        return Files.readString(out, StandardCharsets.UTF_8);
    }

    private static int distinctColors(BufferedImage image) {
        Set<Integer> colors = new HashSet<>();
        for (int y = 0; y < image.getHeight(); y += 2) {
            for (int x = 0; x < image.getWidth(); x += 2) {
                colors.add(image.getRGB(x, y));
            }
        }
        return colors.size();
    }

    static Path findChromium() {
        for (String p : List.of("/usr/bin/chromium", "/usr/bin/chromium-browser")) {
            if (Files.isExecutable(Path.of(p))) {
                return Path.of(p);
            }
        }
        return null;
    }
}
