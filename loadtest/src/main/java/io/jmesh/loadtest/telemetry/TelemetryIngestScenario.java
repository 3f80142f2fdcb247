package io.jmesh.loadtest.telemetry;

import com.google.protobuf.Duration;
import io.jmesh.kafkalocal.LocalKafka;
import io.jmesh.loadtest.BenchContext;
import io.jmesh.loadtest.Metrics;
import io.jmesh.loadtest.ProcStatus;
import io.jmesh.loadtest.ResultTable;
import io.jmesh.loadtest.Scenario;
import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.proto.telemetry.v1.RequestEvent;
import io.jmesh.proto.telemetry.v1.SecurityPolicy;
import io.jmesh.proto.telemetry.v1.ServiceInfo;
import io.jmesh.proto.telemetry.v1.WorkloadInfo;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * How many events per second one {@code telemetry} process ingests (decode, aggregate into Istio series and the
 * service graph, checkpoint + offsets in transactions), and its RSS, against a bare consumer that only decodes,
 * over the same preloaded topics of one local broker.
 *
 * <p>Rates are taken between the moments 10 % and 90 % of the events were consumed, so the group join and the
 * JIT warm-up at the start and the last partial fetches are left out, for both.
 */
public final class TelemetryIngestScenario implements Scenario {

    private static final String L4 = "mesh.l4-events.v1";
    private static final String L7 = "mesh.l7-events.v1";
    private static final int PARTITIONS = 6;
    private static final java.time.Duration LIMIT = java.time.Duration.ofMinutes(3);

    @Override
    public String name() {
        return "telemetry-ingest";
    }

    @Override
    public String description() {
        return "events/s one telemetry instance ingests from Kafka (and its RSS), against a bare decode-only consumer";
    }

    @Override
    public ResultTable run(BenchContext ctx) throws Exception {
        Path jar = ctx.serviceJar("telemetry");
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException("missing " + jar + " (expected: built by make build)");
        }
        io.jmesh.core.logging.JsonLogging.setLevel("org.apache.kafka", "warn");
        long events = ctx.quick() ? 400_000 : 2_000_000;
        try (LocalKafka kafka = LocalKafka.builder().dataDir(ctx.workDir().resolve("kafka")).host("127.0.0.1")
                .port(0).controllerPort(0).heap("512m").fastStartup(false).build().start()) {
            String bootstrap = kafka.bootstrapServers();
            createTopics(bootstrap);
            preload(bootstrap, events);

            String loadBefore = loadAverage();
            Measured bare = bareConsumer(bootstrap, events);
            Measured subject = telemetryProcess(jar, bootstrap, events, ctx.workDir());
            String loadAfter = loadAverage();

            ResultTable t = new ResultTable("consumer", "events", "events/s (10-90 %)", "vs bare", "max RSS MiB",
                    "counted exactly");
            t.row("bare consumer (poll + protobuf decode)", events, Math.round(bare.rate()), "1.00", "-", "-");
            t.row("telemetry (aggregate + graph + transactions)", events, Math.round(subject.rate()),
                    String.format("%.2f", subject.rate() / bare.rate()), subject.rssMib(),
                    subject.exact() ? "yes" : "NO");
            t.note("Goal: >= 200,000 events/s for one telemetry instance. " + PARTITIONS + " partitions per topic, "
                    + "half ConnectionEvents (OPENED/CLOSED) and half RequestEvents, 40 source workloads x 8 services, "
                    + "3 reporters; preloaded, then read from the beginning by each consumer in turn.");
            t.note("telemetry ran as its own process: java -Xmx512m -XX:+UseParallelGC -jar telemetry.jar, "
                    + "commitInterval 1s (the default; progress is read from the group's committed offsets, so the 10-90 % points are known to within a commit); 'counted exactly' = its Istio counters summed to the number of events after "
                    + "the last commit. The bare consumer ran in the benchmark JVM. Both share the cores with the broker.");
            t.note("Load average before/after (1, 5, 15 min): " + loadBefore + " / " + loadAfter
                    + "; figures from a busy machine are lower bounds.");
            return t;
        }
    }

    record Measured(double rate, long rssMib, boolean exact) {}

    private static void createTopics(String bootstrap) throws Exception {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(p)) {
            admin.createTopics(List.of(new NewTopic(L4, PARTITIONS, (short) 1), new NewTopic(L7, PARTITIONS, (short) 1),
                    new NewTopic("mesh.telemetry-dlq.v1", 1, (short) 1),
                    new NewTopic("mesh.telemetry-checkpoints.v1", 1, (short) 1).configs(Map.of(
                            TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT))))
                    .all().get(60, TimeUnit.SECONDS);
        }
    }

    /** Writes {@code events} realistic events, half on each topic, keyed by source workload uid. */
    private static void preload(String bootstrap, long events) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.LINGER_MS_CONFIG, 20);
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, 256 * 1024);
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4");
        p.put(ProducerConfig.ACKS_CONFIG, "1");
        SplittableRandom rnd = new SplittableRandom(42);
        WorkloadInfo[] sources = new WorkloadInfo[40];
        for (int i = 0; i < sources.length; i++) {
            sources[i] = workload("app-" + i, "v" + (i % 3));
        }
        WorkloadInfo[] dests = new WorkloadInfo[8];
        ServiceInfo[] services = new ServiceInfo[8];
        for (int i = 0; i < dests.length; i++) {
            dests[i] = workload("svc-" + i, "v1");
            services[i] = ServiceInfo.newBuilder().setHostname("svc-" + i + ".default.svc.cluster.local")
                    .setName("svc-" + i).setNamespace("default").build();
        }
        Reporter[] reporters = {Reporter.SOURCE, Reporter.DESTINATION, Reporter.WAYPOINT};
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            for (long n = 0; n < events; n++) {
                int s = rnd.nextInt(sources.length);
                int d = rnd.nextInt(dests.length);
                byte[] key = sources[s].getUid().getBytes(StandardCharsets.UTF_8);
                if (n % 2 == 0) {
                    boolean opened = rnd.nextBoolean();
                    ConnectionEvent e = ConnectionEvent.newBuilder().setSchemaVersion(1)
                            .setEventId(UUID.randomUUID().toString())
                            .setKind(opened ? ConnectionEvent.Kind.OPENED : ConnectionEvent.Kind.CLOSED)
                            .setReporter(reporters[rnd.nextInt(2)]).setConnectionId(Long.toHexString(rnd.nextLong()))
                            .setSource(sources[s]).setDestination(dests[d]).setDestinationService(services[d])
                            .setBytesSent(opened ? 0 : rnd.nextInt(100_000)).setBytesReceived(opened ? 0 : rnd.nextInt(10_000))
                            .setSecurityPolicy(SecurityPolicy.MUTUAL_TLS).setReporterInstance("node-" + (s % 4)).build();
                    producer.send(new ProducerRecord<>(L4, key, e.toByteArray()));
                } else {
                    int code = rnd.nextInt(100) < 97 ? 200 : 503;
                    RequestEvent e = RequestEvent.newBuilder().setSchemaVersion(1)
                            .setEventId(UUID.randomUUID().toString()).setReporter(reporters[rnd.nextInt(3)])
                            .setSource(sources[s]).setDestination(dests[d]).setDestinationService(services[d])
                            .setMethod("GET").setPath("/api/items").setAuthority(services[d].getHostname())
                            .setResponseCode(code).setRequestBytes(rnd.nextInt(2_000)).setResponseBytes(rnd.nextInt(50_000))
                            .setDuration(Duration.newBuilder().setNanos(rnd.nextInt(200_000_000)))
                            .setProtocol(RequestEvent.Protocol.HTTP).setSecurityPolicy(SecurityPolicy.MUTUAL_TLS)
                            .setReporterInstance("waypoint-0").build();
                    producer.send(new ProducerRecord<>(L7, key, e.toByteArray()));
                }
            }
            producer.flush();
        }
    }

    private static WorkloadInfo workload(String name, String version) {
        return WorkloadInfo.newBuilder().setUid("Kubernetes//Pod/default/" + name + "-7d9f8").setName(name + "-7d9f8")
                .setWorkloadName(name).setNamespace("default").setPrincipal("spiffe://cluster.local/ns/default/sa/" + name)
                .setApp(name).setVersion(version).setCluster("Kubernetes").setNode("node-a").build();
    }

    /** One thread that polls and decodes every record: the floor of what any Kafka consumer has to do. */
    private static Measured bareConsumer(String bootstrap, long events) throws Exception {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, "bench-bare");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 5000);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        Progress progress = new Progress(events);
        long decodedBytes = 0;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
            consumer.subscribe(List.of(L4, L7));
            long deadline = System.nanoTime() + LIMIT.toNanos();
            long seen = 0;
            while (seen < events && System.nanoTime() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(java.time.Duration.ofMillis(100))) {
                    decodedBytes += r.topic().equals(L4) ? ConnectionEvent.parseFrom(r.value()).getSerializedSize()
                            : RequestEvent.parseFrom(r.value()).getSerializedSize();
                    seen++;
                }
                progress.update(seen);
            }
            if (seen < events) {
                throw new IllegalStateException("bare consumer read " + seen + " of " + events + " within " + LIMIT);
            }
        }
        if (decodedBytes == 0) {
            throw new IllegalStateException("nothing decoded");
        }
        return new Measured(progress.rate(), -1, true);
    }

    private static Measured telemetryProcess(Path jar, String bootstrap, long events, Path work) throws Exception {
        int admin = freePort();
        Path config = work.resolve("telemetry.yaml");
        Files.writeString(config, """
                logLevel: warn
                admin:
                  host: 127.0.0.1
                  port: %d
                kafka:
                  bootstrapServers: "%s"
                  groupId: bench-telemetry
                  instanceId: bench-0
                  partitions: %d
                  commitInterval: 1s
                """.formatted(admin, bootstrap, PARTITIONS));
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process proc = new ProcessBuilder(java, "-Xmx512m", "-XX:+UseParallelGC", "-jar", jar.toString(),
                "--config", config.toString())
                .redirectErrorStream(true).redirectOutput(work.resolve("telemetry.log").toFile()).start();
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin kafkaAdmin = Admin.create(ap)) {
            // progress = the group's committed offsets: reading /metrics that often would cost the subject more
            // than the ingest itself (thousands of Istio series, with three histograms each)
            Progress progress = new Progress(events);
            long maxRss = 0;
            long deadline = System.nanoTime() + LIMIT.toNanos();
            long seen = 0;
            while (seen < events && System.nanoTime() < deadline) {
                if (!proc.isAlive()) {
                    throw new IllegalStateException("telemetry exited with " + proc.exitValue() + "; see "
                            + work.resolve("telemetry.log"));
                }
                seen = committed(kafkaAdmin, "bench-telemetry");
                progress.update(seen);
                maxRss = Math.max(maxRss, rssKib(proc.pid()));
                Thread.sleep(50);
            }
            if (seen < events) {
                throw new IllegalStateException("telemetry consumed " + seen + " of " + events + " within " + LIMIT);
            }
            // after the last commit the Istio counters hold every event exactly once
            boolean exact = false;
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!exact && System.nanoTime() < until) {
                Metrics m = scrape(admin);
                exact = m != null && m.sum("istio_tcp_connections_opened_total", "")
                        + m.sum("istio_tcp_connections_closed_total", "") + m.sum("istio_requests_total", "") == events;
                maxRss = Math.max(maxRss, rssKib(proc.pid()));
                if (!exact) {
                    Thread.sleep(500);
                }
            }
            return new Measured(progress.rate(), maxRss / 1024, exact);
        } finally {
            proc.destroy();
            if (!proc.waitFor(30, TimeUnit.SECONDS)) {
                proc.destroyForcibly();
            }
        }
    }

    private static long committed(Admin admin, String group) throws Exception {
        long sum = 0;
        for (var o : admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
                .get(10, TimeUnit.SECONDS).values()) {
            if (o != null) {
                sum += o.offset();
            }
        }
        return sum;
    }

    /** The telemetry service's metrics, or null while it is not listening yet. */
    private static Metrics scrape(int port) throws InterruptedException {
        try {
            return Metrics.scrape("http://127.0.0.1:" + port + "/metrics");
        } catch (IOException e) {
            return null;
        }
    }

    /** Resident set size, KiB; 0 (no sample) once the process is gone. */
    private static long rssKib(long pid) {
        return Math.max(0, ProcStatus.rssKib(pid));
    }

    private static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split(" ");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException e) {
            return "n/a";
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** Times when 10 % and 90 % of the events were consumed. */
    private static final class Progress {
        private final long total;
        private long t10;
        private long t90;

        Progress(long total) {
            this.total = total;
        }

        void update(long seen) {
            long now = System.nanoTime();
            if (t10 == 0 && seen >= total / 10) {
                t10 = now;
            }
            if (t90 == 0 && seen >= total * 9 / 10) {
                t90 = now;
            }
        }

        double rate() {
            if (t10 == 0 || t90 <= t10) {
                throw new IllegalStateException("progress not measured (10 %: " + t10 + ", 90 %: " + t90 + ")");
            }
            return (total * 0.8) / ((t90 - t10) / 1e9);
        }
    }
}
