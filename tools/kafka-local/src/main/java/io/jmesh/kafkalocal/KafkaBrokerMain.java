package io.jmesh.kafkalocal;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;
import org.apache.kafka.server.common.Feature;
import org.apache.kafka.server.common.MetadataVersion;

/**
 * A single-node KRaft Kafka broker (process.roles=broker,controller). Runs inside the child JVM that
 * {@link LocalKafka} spawns, with Kafka's own class path; never load this class next to the services'
 * kafka-clients.
 *
 * <p>Protocol with the parent: stdout carries exactly one line, {@code KAFKA READY <host>:<port>}, once
 * the broker serves clients; all logs go to stderr. The broker shuts down cleanly on SIGTERM and when
 * its stdin reaches EOF (the parent closed it or died), so it never outlives its parent.
 *
 * <p>Data directory layout: {@code logs/} (partition and metadata logs, formatted on first start) and
 * {@code cluster.id} (the cluster id, reused by every later start on the same directory).
 */
public final class KafkaBrokerMain {

    static final String CONTROLLER_LISTENER = "CONTROLLER";
    static final String BROKER_LISTENER = "PLAINTEXT";

    private KafkaBrokerMain() {
    }

    /** Parsed command line. */
    static final class Options {
        Path dataDir;
        String host = "127.0.0.1";
        int port = 9092;
        int controllerPort = 9093;
        int nodeId = 1;
        String logLevel = "WARN";
        long readyTimeoutMs = 120_000;
        boolean exitOnStdinEof = true;
        final Map<String, String> overrides = new LinkedHashMap<>();

        static Options parse(String[] args) {
            Options o = new Options();
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException("missing value for " + a);
                }
                String v = args[++i];
                switch (a) {
                    case "--data-dir" -> o.dataDir = Path.of(v).toAbsolutePath().normalize();
                    case "--host" -> o.host = v;
                    case "--port" -> o.port = Integer.parseInt(v);
                    case "--controller-port" -> o.controllerPort = Integer.parseInt(v);
                    case "--node-id" -> o.nodeId = Integer.parseInt(v);
                    case "--log-level" -> o.logLevel = v;
                    case "--ready-timeout-ms" -> o.readyTimeoutMs = Long.parseLong(v);
                    case "--exit-on-stdin-eof" -> o.exitOnStdinEof = Boolean.parseBoolean(v);
                    case "--override" -> {
                        int eq = v.indexOf('=');
                        if (eq <= 0) {
                            throw new IllegalArgumentException("--override expects key=value, got " + v);
                        }
                        o.overrides.put(v.substring(0, eq), v.substring(eq + 1));
                    }
                    default -> throw new IllegalArgumentException("unknown option " + a);
                }
            }
            if (o.dataDir == null) {
                throw new IllegalArgumentException("--data-dir is required");
            }
            if (o.port <= 0 || o.port > 65535 || o.controllerPort <= 0 || o.controllerPort > 65535) {
                throw new IllegalArgumentException("--port and --controller-port must be real ports (1-65535)");
            }
            if (o.port == o.controllerPort) {
                throw new IllegalArgumentException("--port and --controller-port must differ");
            }
            return o;
        }
    }

    public static void main(String[] args) {
        // stdout belongs to the protocol: keep a private handle and point System.out at stderr, so a
        // stray println anywhere in the broker cannot be mistaken for (or hide) the ready line.
        PrintStream protocol = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        System.setOut(System.err);

        Options options;
        try {
            options = Options.parse(args);
        } catch (RuntimeException e) {
            System.err.println("kafka-local: " + e.getMessage());
            System.err.println("usage: KafkaBrokerMain --data-dir <dir> [--host 127.0.0.1] [--port 9092]"
                    + " [--controller-port 9093] [--node-id 1] [--log-level WARN] [--ready-timeout-ms 120000]"
                    + " [--exit-on-stdin-eof true] [--override key=value]...");
            System.exit(2);
            return;
        }
        // must happen before the first SLF4J call: broker-logback.xml reads it
        System.setProperty("jmesh.kafka.log.level", options.logLevel);
        try {
            run(options, protocol);
        } catch (Throwable t) {
            t.printStackTrace(System.err);
            Throwable root = t;
            while (root.getCause() != null && root.getCause() != root) {
                root = root.getCause();
            }
            // last, so that it ends the log tail that LocalKafka reports
            System.err.println("kafka-local: broker failed: " + t + (root == t ? "" : " (cause: " + root + ")"));
            System.err.flush();
            // halt: a half-started broker may hold non-daemon threads and hooks that would hang exit
            Runtime.getRuntime().halt(1);
        }
    }

    private static void run(Options o, PrintStream protocol) throws Exception {
        Path logDir = o.dataDir.resolve("logs");
        Files.createDirectories(logDir);
        String clusterId = clusterId(o.dataDir);

        Properties props = brokerProperties(o, logDir);
        KafkaConfig config = new KafkaConfig(props, false);
        formatIfNeeded(o, logDir, clusterId);

        KafkaRaftServer server = new KafkaRaftServer(config, Time.SYSTEM);
        CountDownLatch stopped = new CountDownLatch(1);
        AtomicBoolean stopRequested = new AtomicBoolean();
        Thread hook = new Thread(() -> {
            stopRequested.set(true);
            startHaltWatchdog();
            long t0 = System.nanoTime();
            try {
                server.shutdown();
                server.awaitShutdown();
                System.err.println("kafka-local: broker stopped in "
                        + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0) + " ms");
            } catch (Throwable t) {
                t.printStackTrace(System.err);
            } finally {
                System.err.flush();
                stopped.countDown();
            }
        }, "kafka-local-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        if (o.exitOnStdinEof) {
            watchStdin();
        }

        long started = System.nanoTime();
        server.startup();
        awaitServing(o);
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
        System.err.println("kafka-local: broker " + o.host + ":" + o.port + " ready in " + ms + " ms (cluster "
                + clusterId + ", data " + o.dataDir + ")");
        protocol.println(LocalKafka.READY_PREFIX + " " + o.host + ":" + o.port);
        protocol.flush();

        // the broker's threads keep the JVM alive; wait here until they are told to stop
        server.awaitShutdown();
        if (stopRequested.get()) {
            stopped.await(60, TimeUnit.SECONDS); // the hook finishes the clean shutdown and the JVM exits
            return;
        }
        // the broker stopped without being asked to (a fatal error): do not linger as a zombie JVM
        System.err.println("kafka-local: the broker shut down on its own");
        System.err.flush();
        System.exit(1);
    }

    /** Reads the cluster id kept in the data dir, or creates (and keeps) a new one. */
    static String clusterId(Path dataDir) throws IOException {
        Path file = dataDir.resolve("cluster.id");
        if (Files.exists(file)) {
            String id = Files.readString(file, StandardCharsets.UTF_8).trim();
            if (!id.isEmpty()) {
                return id;
            }
        }
        String id = Uuid.randomUuid().toString();
        Path tmp = dataDir.resolve("cluster.id.tmp");
        Files.writeString(tmp, id + "\n", StandardCharsets.UTF_8);
        Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        return id;
    }

    static Properties brokerProperties(Options o, Path logDir) {
        Properties p = new Properties();
        p.put("process.roles", "broker,controller");
        p.put("node.id", Integer.toString(o.nodeId));
        p.put("controller.quorum.voters", o.nodeId + "@" + o.host + ":" + o.controllerPort);
        p.put("controller.listener.names", CONTROLLER_LISTENER);
        p.put("inter.broker.listener.name", BROKER_LISTENER);
        p.put("listeners", BROKER_LISTENER + "://" + o.host + ":" + o.port + ","
                + CONTROLLER_LISTENER + "://" + o.host + ":" + o.controllerPort);
        p.put("advertised.listeners", BROKER_LISTENER + "://" + o.host + ":" + o.port);
        p.put("listener.security.protocol.map", BROKER_LISTENER + ":PLAINTEXT," + CONTROLLER_LISTENER + ":PLAINTEXT");
        p.put("log.dirs", logDir.toString());

        // one node: every internal topic has replication factor 1, or consumer groups never work
        p.put("offsets.topic.replication.factor", "1");
        p.put("offsets.topic.num.partitions", "1");
        p.put("transaction.state.log.replication.factor", "1");
        p.put("transaction.state.log.min.isr", "1");
        p.put("transaction.state.log.num.partitions", "1");
        p.put("share.coordinator.state.topic.replication.factor", "1");
        p.put("share.coordinator.state.topic.min.isr", "1");
        p.put("default.replication.factor", "1");
        p.put("min.insync.replicas", "1");
        p.put("group.initial.rebalance.delay.ms", "0");
        p.put("auto.create.topics.enable", "true");

        // small heaps: the cleaner's 128 MiB default dedupe buffer alone would not fit in -Xmx256m
        p.put("log.cleaner.dedupe.buffer.size", "4194304");
        p.put("log.cleaner.threads", "1");
        p.put("num.network.threads", "2");
        p.put("num.io.threads", "2");
        p.put("num.recovery.threads.per.data.dir", "1");
        p.put("background.threads", "2");
        p.put("num.replica.fetchers", "1");
        p.put("socket.send.buffer.bytes", "-1");
        p.put("socket.receive.buffer.bytes", "-1");
        // a single node need not wait for a controlled shutdown handshake longer than a few seconds
        p.put("controlled.shutdown.enable", "true");

        p.putAll(o.overrides);
        return p;
    }

    private static void formatIfNeeded(Options o, Path logDir, String clusterId) throws Exception {
        if (Files.exists(logDir.resolve("meta.properties"))) {
            return;
        }
        Formatter formatter = new Formatter()
                .setPrintStream(System.err)
                .setSupportedFeatures(Feature.PRODUCTION_FEATURES)
                .setNodeId(o.nodeId)
                .setClusterId(clusterId)
                .setReleaseVersion(MetadataVersion.LATEST_PRODUCTION)
                .setControllerListenerName(CONTROLLER_LISTENER)
                .setMetadataLogDirectory(logDir.toString())
                .setIgnoreFormatted(true);
        formatter.addDirectory(logDir.toString());
        formatter.run();
    }

    /** Blocks until an admin client sees this broker in the cluster metadata (bounded). */
    private static void awaitServing(Options o) throws Exception {
        Map<String, Object> conf = new LinkedHashMap<>();
        conf.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, o.host + ":" + o.port);
        conf.put(AdminClientConfig.CLIENT_ID_CONFIG, "kafka-local-readiness");
        conf.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 5_000);
        conf.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 5_000);
        conf.put(AdminClientConfig.RETRY_BACKOFF_MS_CONFIG, 100);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(o.readyTimeoutMs);
        Exception last = null;
        try (Admin admin = Admin.create(conf)) {
            while (System.nanoTime() < deadline) {
                try {
                    DescribeClusterResult r = admin.describeCluster(new DescribeClusterOptions().timeoutMs(5_000));
                    Collection<Node> nodes = r.nodes().get(6, TimeUnit.SECONDS);
                    if (nodes.stream().anyMatch(n -> n.id() == o.nodeId)) {
                        return;
                    }
                } catch (ExecutionException | TimeoutException e) {
                    last = e;
                }
                Thread.sleep(100);
            }
        }
        throw new IllegalStateException("broker did not serve describeCluster within " + o.readyTimeoutMs + " ms", last);
    }

    /**
     * The parent holds our stdin open for as long as it wants us to live: EOF (the parent closed it, or
     * the parent died and the OS closed the pipe) means stop. System.exit runs the shutdown hook, which
     * shuts the broker down cleanly.
     */
    private static void watchStdin() {
        Thread t = new Thread(() -> {
            InputStream in = System.in;
            byte[] buf = new byte[256];
            try {
                while (in.read(buf) >= 0) {
                    // input is ignored; we only wait for EOF
                }
                System.err.println("kafka-local: stdin closed, shutting down");
            } catch (IOException e) {
                System.err.println("kafka-local: stdin failed (" + e + "), shutting down");
            }
            System.exit(0);
        }, "kafka-local-stdin-watch");
        t.setDaemon(true);
        t.start();
    }

    /** A broker whose clean shutdown hangs must not become an orphan: halt after 30 s. */
    private static void startHaltWatchdog() {
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(30_000);
            } catch (InterruptedException e) {
                return;
            }
            System.err.println("kafka-local: clean shutdown took more than 30 s, halting");
            System.err.flush();
            Runtime.getRuntime().halt(3);
        }, "kafka-local-halt-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
    }
}
