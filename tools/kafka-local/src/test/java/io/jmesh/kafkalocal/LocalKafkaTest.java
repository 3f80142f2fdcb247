package io.jmesh.kafkalocal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.reflect.Method;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
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
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.Timeout;

/**
 * Starts real brokers in child JVMs. This module's test class path holds the broker's own
 * kafka-clients 4.3.1 (the child's world), which the tests use as plain clients; the services' clients
 * (3.7.1, through vertx-kafka-client) are exercised in tools/testing.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class LocalKafkaTest {

    private final List<LocalKafka> started = new ArrayList<>();

    private static Path dataDir(TestInfo info) throws Exception {
        Path base = Path.of(System.getProperty("jmesh.build.dir", System.getProperty("java.io.tmpdir")));
        return Files.createTempDirectory(Files.createDirectories(base.resolve("kafka-local-tests")),
                info.getTestMethod().orElseThrow().getName() + "-");
    }

    private LocalKafka start(LocalKafka.Builder builder) {
        LocalKafka kafka = builder.build();
        started.add(kafka);
        return kafka.start();
    }

    @AfterEach
    void closeAll() {
        started.forEach(LocalKafka::close);
    }

    @Test
    void startsProducesConsumesAndStopsWithoutLeavingAProcess(TestInfo info) throws Exception {
        LocalKafka kafka = start(LocalKafka.builder().dataDir(dataDir(info)).port(0).heap("256m"));
        assertThat(kafka.bootstrapServers()).startsWith("127.0.0.1:").isEqualTo("127.0.0.1:" + kafka.port());
        ProcessHandle broker = kafka.process().orElseThrow();
        assertThat(broker.isAlive()).isTrue();
        assertThat(broker.info().command().orElse("")).endsWith("java");

        try (Admin admin = admin(kafka)) {
            admin.createTopics(List.of(new NewTopic("orders", 3, (short) 1))).all().get(30, TimeUnit.SECONDS);
        }
        try (KafkaProducer<String, String> producer = producer(kafka)) {
            for (int i = 0; i < 20; i++) {
                producer.send(new ProducerRecord<>("orders", "k" + i, "v" + i)).get(30, TimeUnit.SECONDS);
            }
        }
        List<ConsumerRecord<String, String>> records = consumeAll(kafka, "orders", "g1", 20);
        assertThat(records).extracting(ConsumerRecord::value).containsExactlyInAnyOrder(
                java.util.stream.IntStream.range(0, 20).mapToObj(i -> "v" + i).toArray(String[]::new));

        kafka.close();
        assertThat(broker.isAlive()).isFalse();
        assertThat(kafka.isRunning()).isFalse();
        assertThat(ProcessHandle.current().descendants()).noneMatch(p -> p.pid() == broker.pid());
        kafka.close(); // idempotent
        String log = Files.readString(kafka.logFile());
        assertThat(log).contains("ready at 127.0.0.1:" + kafka.port()).doesNotContain("halting");
    }

    @Test
    void aSecondBrokerJoinsTheFirstsClusterAndHoldsReplicas(TestInfo info) throws Exception {
        Path dir = dataDir(info);
        LocalKafka first = start(LocalKafka.builder().dataDir(dir.resolve("node-1")).nodeId(1));
        LocalKafka second = start(LocalKafka.builder().dataDir(dir.resolve("node-2")).nodeId(2).joining(first));
        assertThat(Files.readString(dir.resolve("node-2/cluster.id")))
                .isEqualTo(Files.readString(dir.resolve("node-1/cluster.id")));
        try (Admin admin = admin(second)) {
            assertThat(admin.describeCluster().nodes().get(30, TimeUnit.SECONDS))
                    .extracting(org.apache.kafka.common.Node::id).containsExactlyInAnyOrder(1, 2);
            admin.createTopics(List.of(new NewTopic("replicated", 2, (short) 2))).all().get(30, TimeUnit.SECONDS);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            List<org.apache.kafka.common.TopicPartitionInfo> partitions = List.of();
            do {
                Thread.sleep(100);
                try {
                    partitions = admin.describeTopics(List.of("replicated")).allTopicNames()
                            .get(30, TimeUnit.SECONDS).get("replicated").partitions();
                } catch (java.util.concurrent.ExecutionException e) {
                    // just created: not yet known to the broker asked
                }
            } while ((partitions.isEmpty() || partitions.stream().anyMatch(p -> p.isr().size() < 2))
                    && System.nanoTime() < deadline);
            assertThat(partitions).as("both partitions in sync on both brokers").hasSize(2)
                    .allSatisfy(p -> assertThat(p.isr()).hasSize(2));
        }
        try (KafkaProducer<String, String> producer = producer(second)) {
            for (int i = 0; i < 10; i++) {
                producer.send(new ProducerRecord<>("replicated", "k" + i, "v" + i)).get(30, TimeUnit.SECONDS);
            }
        }
        assertThat(consumeAll(first, "replicated", "g-joined", 10)).hasSize(10);
    }

    @Test
    void restartOnTheSameDataDirKeepsTopicsRecordsAndClusterId(TestInfo info) throws Exception {
        Path dir = dataDir(info);
        String clusterId;
        LocalKafka first = start(LocalKafka.builder().dataDir(dir));
        try (Admin admin = admin(first)) {
            admin.createTopics(List.of(new NewTopic("kept", 1, (short) 1))).all().get(30, TimeUnit.SECONDS);
            clusterId = admin.describeCluster().clusterId().get(30, TimeUnit.SECONDS);
        }
        try (KafkaProducer<String, String> producer = producer(first)) {
            producer.send(new ProducerRecord<>("kept", "a", "1")).get(30, TimeUnit.SECONDS);
            producer.send(new ProducerRecord<>("kept", "b", "2")).get(30, TimeUnit.SECONDS);
        }
        first.close();
        assertThat(Files.readString(dir.resolve("cluster.id")).trim()).isEqualTo(clusterId);

        LocalKafka second = start(LocalKafka.builder().dataDir(dir));
        try (Admin admin = admin(second)) {
            assertThat(admin.listTopics().names().get(30, TimeUnit.SECONDS)).contains("kept");
            assertThat(admin.describeCluster().clusterId().get(30, TimeUnit.SECONDS)).isEqualTo(clusterId);
        }
        assertThat(consumeAll(second, "kept", "g2", 2)).extracting(ConsumerRecord::value).containsExactly("1", "2");

        // the same instance can be started again too, and keeps its (auto-chosen) port
        int port = second.port();
        second.close();
        second.start();
        assertThat(second.port()).isEqualTo(port);
        assertThat(consumeAll(second, "kept", "g3", 2)).hasSize(2);
    }

    @Test
    void brokerStopsByItselfWhenItsStdinCloses(TestInfo info) throws Exception {
        LocalKafka kafka = start(LocalKafka.builder().dataDir(dataDir(info)));
        ProcessHandle broker = kafka.process().orElseThrow();
        kafka.closeStdin();
        broker.onExit().get(60, TimeUnit.SECONDS);
        assertThat(broker.isAlive()).isFalse();
        assertThat(Files.readString(kafka.logFile())).contains("stdin closed, shutting down").doesNotContain("halting");
    }

    @Test
    void sigtermStopsTheBrokerCleanly(TestInfo info) throws Exception {
        LocalKafka kafka = start(LocalKafka.builder().dataDir(dataDir(info)));
        ProcessHandle broker = kafka.process().orElseThrow();
        assertThat(broker.destroy()).isTrue();
        broker.onExit().get(60, TimeUnit.SECONDS);
        assertThat(Files.readString(kafka.logFile())).doesNotContain("halting");
        // a second start on the same data finds a cleanly shut down log
        kafka.close();
        kafka.start();
        try (Admin admin = admin(kafka)) {
            assertThat(admin.describeCluster().nodes().get(30, TimeUnit.SECONDS)).hasSize(1);
        }
    }

    @Test
    void brokerDoesNotOutliveAParentJvmThatIsKilled(TestInfo info) throws Exception {
        Path dir = dataDir(info);
        List<String> cmd = List.of(LocalKafka.currentJava().toString(), "-Xmx64m", "-cp",
                LocalKafka.ownLocation().toString(), LocalKafka.class.getName(),
                "--data-dir", dir.toString(), "--port", "0", "--controller-port", "0");
        Process parent = new ProcessBuilder(cmd).redirectError(dir.resolve("parent.log").toFile()).start();
        try {
            CompletableFuture<String> ready = CompletableFuture.supplyAsync(() -> {
                try (BufferedReader r = new BufferedReader(
                        new InputStreamReader(parent.getInputStream(), StandardCharsets.UTF_8))) {
                    return r.readLine();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            assertThat(ready.get(90, TimeUnit.SECONDS)).startsWith("KAFKA READY 127.0.0.1:");
            List<ProcessHandle> children = parent.children().toList();
            assertThat(children).hasSize(1);
            ProcessHandle broker = children.get(0);

            parent.destroyForcibly(); // SIGKILL: no shutdown hook runs, only the pipe closes
            parent.waitFor(30, TimeUnit.SECONDS);
            broker.onExit().get(60, TimeUnit.SECONDS);
            assertThat(broker.isAlive()).isFalse();
            assertThat(Files.readString(dir.resolve("broker.log"))).contains("stdin closed, shutting down");
        } finally {
            parent.descendants().forEach(ProcessHandle::destroyForcibly);
            parent.destroyForcibly();
        }
    }

    @Test
    void failsWithTheBrokerLogWhenItsPortIsTaken(TestInfo info) throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            LocalKafka kafka = LocalKafka.builder().dataDir(dataDir(info)).port(taken.getLocalPort())
                    .startTimeout(Duration.ofSeconds(60)).build();
            started.add(kafka);
            assertThatThrownBy(kafka::start)
                    .isInstanceOf(LocalKafka.StartException.class)
                    .hasMessageContaining("exited before it was ready")
                    .hasMessageContaining("last lines of")
                    .hasMessageContaining("Address already in use");
            assertThat(kafka.isRunning()).isFalse();
            assertThat(kafka.process()).isEmpty();
        }
    }

    @Test
    void launcherRunsWithOnlyJdkClassesOnItsClassPath(TestInfo info) throws Exception {
        URL own = LocalKafka.ownLocation().toUri().toURL();
        try (URLClassLoader isolated = new URLClassLoader(new URL[] {own}, ClassLoader.getPlatformClassLoader())) {
            assertThatThrownBy(() -> isolated.loadClass("org.apache.kafka.clients.admin.Admin"))
                    .isInstanceOf(ClassNotFoundException.class);
            Class<?> launcher = isolated.loadClass(LocalKafka.class.getName());
            assertThat(launcher.getClassLoader()).isSameAs(isolated);
            Object builder = launcher.getMethod("builder").invoke(null);
            Class<?> builderType = builder.getClass();
            builderType.getMethod("dataDir", Path.class).invoke(builder, dataDir(info));
            builderType.getMethod("heap", String.class).invoke(builder, "192m");
            Object kafka = builderType.getMethod("build").invoke(builder);
            Method close = launcher.getMethod("close");
            try {
                launcher.getMethod("start").invoke(kafka);
                String bootstrap = (String) launcher.getMethod("bootstrapServers").invoke(kafka);
                try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
                    assertThat(admin.describeCluster().nodes().get(30, TimeUnit.SECONDS)).hasSize(1);
                }
            } finally {
                close.invoke(kafka);
            }
        }
    }

    @Test
    void brokerOptionsRejectNonsense() {
        assertThatThrownBy(() -> KafkaBrokerMain.Options.parse(new String[] {"--port", "9092"}))
                .hasMessageContaining("--data-dir");
        assertThatThrownBy(() -> KafkaBrokerMain.Options.parse(
                new String[] {"--data-dir", "x", "--port", "9092", "--controller-port", "9092"}))
                .hasMessageContaining("differ");
        KafkaBrokerMain.Options o = KafkaBrokerMain.Options.parse(new String[] {
            "--data-dir", "x", "--port", "1000", "--controller-port", "1001", "--override", "a.b=c=d"});
        assertThat(o.overrides).containsEntry("a.b", "c=d");
        Properties props = KafkaBrokerMain.brokerProperties(o, Path.of("x/logs"));
        assertThat(props).containsEntry("offsets.topic.replication.factor", "1")
                .containsEntry("log.cleaner.dedupe.buffer.size", "4194304")
                .containsEntry("group.initial.rebalance.delay.ms", "0")
                .containsEntry("a.b", "c=d");
    }

    // ---------------------------------------------------------------------------------------------

    private static Admin admin(LocalKafka kafka) {
        return Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()));
    }

    private static KafkaProducer<String, String> producer(LocalKafka kafka) {
        return new KafkaProducer<>(Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
                ProducerConfig.ACKS_CONFIG, "all"), new StringSerializer(), new StringSerializer());
    }

    private static List<ConsumerRecord<String, String>> consumeAll(LocalKafka kafka, String topic, String group,
                                                                   int expected) {
        List<ConsumerRecord<String, String>> out = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
                ConsumerConfig.GROUP_ID_CONFIG, group,
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest"), new StringDeserializer(), new StringDeserializer())) {
            consumer.subscribe(Set.of(topic));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (out.size() < expected && System.nanoTime() < deadline) {
                consumer.poll(Duration.ofMillis(500)).forEach(out::add);
            }
        }
        assertThat(out).as("records consumed from %s", topic).hasSize(expected);
        return out;
    }
}
