package io.jmesh.telemetry.ingest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.MessageLite;
import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.telemetry.EventProducer;
import io.jmesh.telemetry.Events;
import io.jmesh.telemetry.TelemetryConfig.IngestConfig;
import io.jmesh.telemetry.TelemetryInstance;
import io.jmesh.testing.KafkaExtension;
import io.jmesh.testing.ServiceProcess;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real {@code telemetry.jar} is killed with SIGKILL while it ingests (an open transaction, uncommitted
 * aggregates); its successor with the same instance id fences the dead transaction and counts every event once.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class TelemetryCrashIT {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    private static final int EVENTS = 40_000;

    @TempDir
    Path dir;

    @Test
    void aKilledReplicaLosesNothingAndItsSuccessorCountsEachEventOnce() throws Exception {
        IngestConfig cfg = TelemetryInstance.ingest(kafka.bootstrapServers(), KafkaExtension.uniqueTopic("crash"), "a");
        Path config = dir.resolve("telemetry.yaml");
        Files.writeString(config, """
                admin:
                  host: 127.0.0.1
                  port: 0
                kafka:
                  bootstrapServers: "%s"
                  groupId: %s
                  instanceId: a
                  connectionTopic: %s
                  requestTopic: %s
                  deadLetterTopic: %s
                  checkpointTopic: %s
                  commitInterval: 200ms
                  partitions: 4
                """.formatted(cfg.bootstrapServers(), cfg.groupId(), cfg.connectionTopic(), cfg.requestTopic(),
                cfg.deadLetterTopic(), cfg.checkpointTopic()));
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        try (EventProducer producer = new EventProducer(kafka)) {
            kafka.createTopic(cfg.connectionTopic(), cfg.partitions(), false);
            kafka.createTopic(cfg.requestTopic(), cfg.partitions(), false);
            producer.sendAll(cfg.connectionTopic(), events(0, EVENTS / 2, true));
            producer.sendAll(cfg.requestTopic(), events(EVENTS / 2, EVENTS / 2, false));
        }
        // the backlog is there before the replica starts, so that it dies in the middle of it
        try (ServiceProcess p = ServiceProcess.builder(Path.of(System.getProperty("jmesh.service.jar")))
                .args("--config", config.toString()).logFile(dir.resolve("telemetry.log")).workDir(dir).start()) {
            String admin = p.awaitMessage("started", Duration.ofSeconds(60)).getString("admin");
            await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(10)).ignoreExceptions()
                    .until(() -> records(get(http, admin, "/metrics").body()) > 0);
            p.handle().destroyForcibly(); // SIGKILL: no revocation, no final commit
            assertThat(p.handle().onExit().get(30, TimeUnit.SECONDS).isAlive()).isFalse();
            System.out.println("killed telemetry in the middle of a backlog of " + EVENTS + " events");
        }

        try (TelemetryInstance successor = TelemetryInstance.start(cfg)) {
            await().atMost(Duration.ofSeconds(90)).until(() -> successor.counted() == EVENTS);
            GroupLag.awaitNone(kafka, cfg);
            assertThat(successor.counted()).isEqualTo(EVENTS);
            assertThat(successor.totals().requestCount()).isEqualTo(EVENTS / 2);
        }
    }

    private static List<Map.Entry<String, ? extends MessageLite>> events(int from, int count, boolean l4) {
        List<Map.Entry<String, ? extends MessageLite>> out = new ArrayList<>();
        for (int i = from; i < from + count; i++) {
            MessageLite e = l4
                    ? (i % 2 == 0 ? Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews")
                            : Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 10, 20))
                    : Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 200, 7);
            out.add(new AbstractMap.SimpleEntry<>("Kubernetes//Pod/default/src-" + (i % 16), e));
        }
        return out;
    }

    private static long records(String metrics) {
        long n = 0;
        for (String line : metrics.split("\n")) {
            if (line.startsWith("telemetry_records_total{")) {
                n += (long) Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return n;
    }

    private static HttpResponse<String> get(HttpClient http, String admin, String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://" + admin + path)).timeout(Duration.ofSeconds(10))
                .build(), HttpResponse.BodyHandlers.ofString());
    }
}
