package io.jmesh.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

import io.jmesh.kafkalocal.LocalKafka;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A real single-node Kafka broker (KRaft, 4.3.1) for a test class, in its own JVM so that its jars never
 * meet the services' kafka-clients 3.7.1.
 *
 * <pre>{@code
 * @RegisterExtension
 * static final KafkaExtension kafka = new KafkaExtension();   // one broker for the class
 *
 * @Test void publishes() {
 *     kafka.createTopic("mesh.config.v1", 1, true);
 *     KafkaProducer<String, String> p = KafkaProducer.create(vertx, kafka.producerConfig());
 * }
 * }</pre>
 *
 * <p>Registered on a static field it starts one broker before all tests of the class and stops it after
 * them ({@code @Nested} classes share it); on an instance field, one broker per test. Brokers listen on free ports on 127.0.0.1 and keep
 * their data (and {@code broker.log}) under {@code ${jmesh.build.dir}/kafka/}, the module's
 * {@code target/} directory in a Maven build, else under {@code java.io.tmpdir}.
 */
public final class KafkaExtension implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback, AfterEachCallback {

    private static final Duration ADMIN_TIMEOUT = Duration.ofSeconds(30);
    private static final AtomicInteger TOPIC_COUNTER = new AtomicInteger();

    private final Consumer<LocalKafka.Builder> customizer;
    private LocalKafka broker;
    private Admin admin;
    private boolean startedForOneTest;
    private int nestedClasses;

    /** A broker with the defaults: free ports on 127.0.0.1, 256 MiB heap, logs at WARN. */
    public KafkaExtension() {
        this(builder -> { });
    }

    /**
     * A broker whose launcher options are adjusted before it starts, e.g.
     * {@code new KafkaExtension(b -> b.brokerProperty("log.cleaner.backoff.ms", "500"))}.
     * The data dir is set by the extension (set it here only to share one across classes).
     */
    public KafkaExtension(Consumer<LocalKafka.Builder> customizer) {
        this.customizer = Objects.requireNonNull(customizer);
    }

    // ---- JUnit lifecycle -------------------------------------------------------------------------

    @Override
    public synchronized void beforeAll(ExtensionContext context) {
        if (broker != null) { // a @Nested class: share the enclosing class's broker
            nestedClasses++;
            return;
        }
        start(name(context));
    }

    @Override
    public synchronized void afterAll(ExtensionContext context) {
        if (nestedClasses > 0) {
            nestedClasses--;
            return;
        }
        stop();
    }

    @Override
    public synchronized void beforeEach(ExtensionContext context) {
        if (broker == null) { // an instance field: no beforeAll came
            start(name(context));
            startedForOneTest = true;
        }
    }

    @Override
    public synchronized void afterEach(ExtensionContext context) {
        if (startedForOneTest) {
            stop();
        }
    }

    // ---- what tests use --------------------------------------------------------------------------

    /** {@code 127.0.0.1:<port>} of the running broker. */
    public String bootstrapServers() {
        return running().bootstrapServers();
    }

    /** The launcher of the running broker: its data dir, log file, process; or to stop and start it. */
    public LocalKafka broker() {
        return running();
    }

    /** A shared admin client (kafka-clients 3.7.1) for this broker; closed when the broker stops. */
    public synchronized Admin admin() {
        if (admin == null) {
            Map<String, Object> conf = new HashMap<>();
            conf.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
            conf.put(AdminClientConfig.CLIENT_ID_CONFIG, "kafka-extension-admin");
            conf.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) ADMIN_TIMEOUT.toMillis());
            admin = Admin.create(conf);
        }
        return admin;
    }

    /**
     * Creates a topic (replication factor 1) and waits until every partition has a leader.
     *
     * @param compacted {@code cleanup.policy=compact} (tombstones delete keys) instead of delete
     */
    public void createTopic(String name, int partitions, boolean compacted) {
        createTopic(name, partitions, compacted
                ? Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT)
                : Map.of());
    }

    /** Creates a topic with the given topic configs and waits until every partition has a leader. */
    public void createTopic(String name, int partitions, Map<String, String> configs) {
        NewTopic topic = new NewTopic(name, partitions, (short) 1).configs(configs);
        get(admin().createTopics(List.of(topic)).all(), "create topic " + name);
        long deadline = System.nanoTime() + ADMIN_TIMEOUT.toNanos();
        while (true) {
            try {
                TopicDescription d = admin().describeTopics(List.of(name)).allTopicNames()
                        .get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).get(name);
                if (d.partitions().size() == partitions
                        && d.partitions().stream().map(TopicPartitionInfo::leader).allMatch(Objects::nonNull)) {
                    return;
                }
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) {
                    throw new IllegalStateException("describe topic " + name + " failed", e.getCause());
                }
            } catch (TimeoutException e) {
                throw new IllegalStateException("describe topic " + name + " timed out", e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("topic " + name + " has no leader after " + ADMIN_TIMEOUT.toSeconds() + " s");
            }
            sleep(50);
        }
    }

    /** A topic name not used before in this JVM: {@code base-<n>}. */
    public static String uniqueTopic(String base) {
        return base + "-" + TOPIC_COUNTER.incrementAndGet();
    }

    /**
     * Configuration for a Vert.x {@code KafkaProducer.create(vertx, config)} with String keys and values,
     * {@code acks=all}. A fresh mutable map: put more keys as needed.
     */
    public Map<String, String> producerConfig() {
        return producerConfig(StringSerializer.class, StringSerializer.class);
    }

    /** As {@link #producerConfig()}, with the given serializers (e.g. {@code ByteArraySerializer}). */
    public Map<String, String> producerConfig(Class<? extends Serializer<?>> keySerializer,
                                              Class<? extends Serializer<?>> valueSerializer) {
        Map<String, String> c = new HashMap<>();
        c.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
        c.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, keySerializer.getName());
        c.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, valueSerializer.getName());
        c.put(ProducerConfig.ACKS_CONFIG, "all");
        c.put(ProducerConfig.LINGER_MS_CONFIG, "0");
        c.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
        c.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        c.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
        return c;
    }

    /**
     * Configuration for a Vert.x {@code KafkaConsumer.create(vertx, config)} in consumer group
     * {@code groupId} with String keys and values, reading from the earliest offset when the group has
     * none, and committing only explicitly ({@code enable.auto.commit=false}). A fresh mutable map.
     */
    public Map<String, String> consumerConfig(String groupId) {
        return consumerConfig(groupId, StringDeserializer.class, StringDeserializer.class);
    }

    /**
     * Reads {@code topic} from its start, in a fresh consumer group, until {@code n} records came or
     * {@code timeout} passed; returns what came (fewer than {@code n} after the timeout).
     */
    public List<ConsumerRecord<byte[], byte[]>> readRecords(String topic, int n, Duration timeout) {
        Map<String, Object> conf = new HashMap<>(consumerConfig("read-" + System.nanoTime()));
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(conf, new ByteArrayDeserializer(),
                new ByteArrayDeserializer())) {
            c.subscribe(List.of(topic));
            long deadline = System.nanoTime() + timeout.toNanos();
            while (out.size() < n && System.nanoTime() < deadline) {
                c.poll(Duration.ofMillis(200)).forEach(out::add);
            }
        }
        return out;
    }

    /** As {@link #consumerConfig(String)}, with the given deserializers. */
    public Map<String, String> consumerConfig(String groupId, Class<? extends Deserializer<?>> keyDeserializer,
                                              Class<? extends Deserializer<?>> valueDeserializer) {
        Map<String, String> c = new HashMap<>();
        c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
        c.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
        c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, keyDeserializer.getName());
        c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, valueDeserializer.getName());
        c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        c.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "10000");
        c.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "1000");
        c.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        return c;
    }

    /**
     * Stops the broker and starts it again on the same data dir and ports (topics, records and committed
     * offsets survive), e.g. to test reconnection. Clients stay configured with the same address.
     */
    public synchronized void restart() {
        LocalKafka b = running();
        closeAdmin();
        b.close();
        b.start();
    }

    // ---- internals -------------------------------------------------------------------------------

    synchronized void start(String name) {
        if (broker != null) {
            throw new IllegalStateException("KafkaExtension already started a broker (" + broker.bootstrapServers() + ")");
        }
        LocalKafka.Builder builder = LocalKafka.builder()
                .dataDir(newDataDir(name))
                .host("127.0.0.1")
                .port(0)
                .controllerPort(0);
        customizer.accept(builder);
        LocalKafka b = builder.build();
        try {
            b.start();
        } catch (RuntimeException e) {
            b.close();
            throw new IllegalStateException("KafkaExtension: could not start a Kafka broker for " + name
                    + " (log: " + b.logFile() + "): " + e.getMessage(), e);
        }
        broker = b;
    }

    synchronized void stop() {
        startedForOneTest = false;
        nestedClasses = 0;
        closeAdmin();
        if (broker != null) {
            try {
                broker.close();
            } finally {
                broker = null;
            }
        }
    }

    private synchronized void closeAdmin() {
        if (admin != null) {
            try {
                admin.close(Duration.ofSeconds(5));
            } finally {
                admin = null;
            }
        }
    }

    private synchronized LocalKafka running() {
        if (broker == null) {
            throw new IllegalStateException("no Kafka broker: register KafkaExtension with @RegisterExtension"
                    + " and use it from tests or @BeforeEach/@BeforeAll methods (after the extension started)");
        }
        return broker;
    }

    private static String name(ExtensionContext context) {
        Optional<Class<?>> type = context.getTestClass();
        String cls = type.map(Class::getSimpleName).orElse("kafka");
        return context.getTestMethod().map(m -> cls + "." + m.getName()).orElse(cls);
    }

    static Path newDataDir(String name) {
        String build = System.getProperty("jmesh.build.dir");
        Path base = build != null && !build.isBlank()
                ? Path.of(build, "kafka")
                : Path.of(System.getProperty("java.io.tmpdir"), "jmesh-kafka");
        try {
            Files.createDirectories(base);
            return Files.createTempDirectory(base, name.replaceAll("[^A-Za-z0-9._-]", "_") + "-");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a Kafka data dir under " + base, e);
        }
    }

    private static <T> T get(org.apache.kafka.common.KafkaFuture<T> future, String what) {
        try {
            return future.get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw new IllegalStateException(what + " failed: " + e.getCause(), e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException(what + " timed out after " + ADMIN_TIMEOUT.toSeconds() + " s", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted: " + what, e);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }
}
