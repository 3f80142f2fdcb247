package io.jmesh.kafkalocal;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Starts a real single-node KRaft Kafka broker ({@link KafkaBrokerMain}) in a child JVM and stops it.
 *
 * <p>This class uses JDK classes only: it may be loaded from a class path that holds none of Kafka's
 * jars (the services' tests, whose kafka-clients 3.7.1 must never meet the broker's 4.3.1). The child
 * gets its own class path: the jars listed in the {@code broker.classpath} resource written at build
 * time (absolute paths in the local Maven repository) plus the location of this class itself.
 *
 * <pre>{@code
 * try (LocalKafka kafka = LocalKafka.builder().dataDir(dir).port(0).build().start()) {
 *     String bootstrap = kafka.bootstrapServers();   // "127.0.0.1:<free port>"
 * }
 * }</pre>
 *
 * <p>The child never outlives this JVM: {@link #close()} closes its stdin (the broker treats EOF as
 * "stop"), waits for a clean exit and then kills it; a shutdown hook does the same on Ctrl-C; and if
 * this JVM is killed outright the OS closes the pipe, so the broker stops by itself.
 */
public final class LocalKafka implements AutoCloseable {

    /** The broker prints this, a space and {@code host:port} on stdout once it serves clients. */
    public static final String READY_PREFIX = "KAFKA READY";
    /** Name of the class-path resource listing the broker's jars, one string joined by the path separator. */
    public static final String CLASSPATH_RESOURCE = "broker.classpath";
    /** Overrides the broker class path entirely (path-separator joined), for unusual layouts. */
    public static final String CLASSPATH_PROPERTY = "jmesh.kafka.classpath";
    static final String BROKER_MAIN = "io.jmesh.kafkalocal.KafkaBrokerMain";
    static final String LOGBACK_RESOURCE = "io/jmesh/kafkalocal/broker-logback.xml";
    private static final String LOG_FILE = "broker.log";
    private static final long MAX_LOG_BYTES = 16L << 20;
    private static final int TAIL_LINES = 40;
    private static final int MAX_BIND_ATTEMPTS = 3;

    private final Path dataDir;
    private final String host;
    private final int requestedPort;
    private final int requestedControllerPort;
    private final int nodeId;
    private final String heap;
    private final String logLevel;
    private final Duration startTimeout;
    private final Duration shutdownTimeout;
    private final boolean fastStartup;
    private final List<String> jvmArgs;
    private final Map<String, String> brokerProperties;
    private final Path javaBinary;
    private final LocalKafka joins;

    private Process process;
    private Thread stdoutPump;
    private Thread shutdownHook;
    private int port;
    private int controllerPort;

    private LocalKafka(Builder b) {
        this.dataDir = Objects.requireNonNull(b.dataDir, "dataDir").toAbsolutePath().normalize();
        this.host = b.host;
        this.requestedPort = b.port;
        this.requestedControllerPort = b.controllerPort;
        this.nodeId = b.nodeId;
        this.heap = b.heap;
        this.logLevel = b.logLevel;
        this.startTimeout = b.startTimeout;
        this.shutdownTimeout = b.shutdownTimeout;
        this.fastStartup = b.fastStartup;
        this.jvmArgs = List.copyOf(b.jvmArgs);
        this.brokerProperties = Map.copyOf(b.brokerProperties);
        this.javaBinary = b.javaBinary != null ? b.javaBinary : currentJava();
        this.joins = b.joins;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Options of a {@link LocalKafka}; every one has a default except {@link #dataDir(Path)}. */
    public static final class Builder {
        private Path dataDir;
        private String host = "127.0.0.1";
        private int port;
        private int controllerPort;
        private int nodeId = 1;
        private String heap = "256m";
        private String logLevel = "WARN";
        private Duration startTimeout = Duration.ofSeconds(90);
        private Duration shutdownTimeout = Duration.ofSeconds(20);
        private boolean fastStartup = true;
        private final List<String> jvmArgs = new ArrayList<>();
        private final Map<String, String> brokerProperties = new LinkedHashMap<>();
        private Path javaBinary;
        private LocalKafka joins;

        private Builder() {
        }

        /** Where the broker keeps its logs, cluster id and {@code broker.log}; reused across starts. */
        public Builder dataDir(Path dir) {
            this.dataDir = dir;
            return this;
        }

        /** Address of both listeners (loopback by default). */
        public Builder host(String host) {
            this.host = Objects.requireNonNull(host);
            return this;
        }

        /** Client listener port; 0 (default) picks a free one. */
        public Builder port(int port) {
            this.port = checkPort(port);
            return this;
        }

        /** KRaft controller listener port; 0 (default) picks a free one. */
        public Builder controllerPort(int port) {
            this.controllerPort = checkPort(port);
            return this;
        }

        public Builder nodeId(int nodeId) {
            this.nodeId = nodeId;
            return this;
        }

        /** Maximum heap of the broker JVM, as for {@code -Xmx} (default {@code 256m}). */
        public Builder heap(String heap) {
            this.heap = Objects.requireNonNull(heap);
            return this;
        }

        /** Root log level of the broker JVM (default WARN). */
        public Builder logLevel(String level) {
            this.logLevel = Objects.requireNonNull(level);
            return this;
        }

        /** How long {@link LocalKafka#start()} waits for the ready line (default 90 s). */
        public Builder startTimeout(Duration timeout) {
            this.startTimeout = Objects.requireNonNull(timeout);
            return this;
        }

        /** How long {@link LocalKafka#close()} waits for a clean exit before killing (default 20 s). */
        public Builder shutdownTimeout(Duration timeout) {
            this.shutdownTimeout = Objects.requireNonNull(timeout);
            return this;
        }

        /**
         * With {@code true} (default) the broker JVM runs with the C1 compiler only
         * ({@code -XX:TieredStopAtLevel=1}): it is ready ~20% sooner and uses ~35 MiB less memory, at
         * some cost in peak throughput. Pass {@code false} for load tests that push the broker hard.
         */
        public Builder fastStartup(boolean fast) {
            this.fastStartup = fast;
            return this;
        }

        /** An extra option for the broker JVM, e.g. {@code -XX:TieredStopAtLevel=1}. */
        public Builder jvmArg(String arg) {
            this.jvmArgs.add(Objects.requireNonNull(arg));
            return this;
        }

        /** A broker configuration key, overriding the single-node defaults of {@link KafkaBrokerMain}. */
        public Builder brokerProperty(String key, String value) {
            this.brokerProperties.put(Objects.requireNonNull(key), Objects.requireNonNull(value));
            return this;
        }

        /** The {@code java} executable for the child (default: the one running this JVM). */
        public Builder javaBinary(Path java) {
            this.javaBinary = java;
            return this;
        }

        /**
         * Runs this node as a broker only, in the cluster of {@code first}, whose KRaft controller it registers
         * with (started before this one, on another data dir, with another {@link #nodeId}). For tests of clients
         * across brokers: partitions replicated on both, leaders moving between them.
         */
        public Builder joining(LocalKafka first) {
            this.joins = Objects.requireNonNull(first);
            return this;
        }

        public LocalKafka build() {
            return new LocalKafka(this);
        }

        private static int checkPort(int port) {
            if (port < 0 || port > 65535) {
                throw new IllegalArgumentException("port out of range: " + port);
            }
            return port;
        }
    }

    /** The broker could not be started; the message names the cause and ends with the broker's log. */
    public static final class StartException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        StartException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * Spawns the broker JVM and blocks until it prints its ready line.
     *
     * @return this, for chaining
     * @throws StartException when the broker exits, times out, or cannot be spawned
     */
    public synchronized LocalKafka start() {
        if (process != null && process.isAlive()) {
            throw new IllegalStateException("already running (pid " + process.pid() + ")");
        }
        cleanUpExited();
        List<String> classPath = brokerClassPath();
        try {
            Files.createDirectories(dataDir);
            if (joins != null) {
                // a node formats its log dir with its cluster's id: the first node's, kept in its data dir
                Files.copy(joins.dataDir.resolve("cluster.id"), dataDir.resolve("cluster.id"),
                        StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new StartException("cannot prepare data dir " + dataDir + ": " + e, e);
        }
        for (int attempt = 1; ; attempt++) {
            choosePorts(attempt > 1);
            try {
                launch(classPath);
                return this;
            } catch (StartException e) {
                boolean autoPorts = requestedPort == 0 && requestedControllerPort == 0;
                if (autoPorts && attempt < MAX_BIND_ATTEMPTS && bindFailure(e)) {
                    appendLog("kafka-local: port taken meanwhile, retrying with other ports");
                    continue;
                }
                throw e;
            }
        }
    }

    /** {@code host:port} of the client listener. */
    public synchronized String bootstrapServers() {
        if (port == 0) {
            throw new IllegalStateException("not started");
        }
        return host + ":" + port;
    }

    public String host() {
        return host;
    }

    /** The client listener port (the chosen one when 0 was requested); 0 before the first start. */
    public synchronized int port() {
        return port;
    }

    public synchronized int controllerPort() {
        return controllerPort;
    }

    public Path dataDir() {
        return dataDir;
    }

    /** The broker JVM's stderr (all its logs), appended to across starts. */
    public Path logFile() {
        return dataDir.resolve(LOG_FILE);
    }

    /** The broker process, while one was started. */
    public synchronized Optional<ProcessHandle> process() {
        return Optional.ofNullable(process).map(Process::toHandle);
    }

    public synchronized boolean isRunning() {
        return process != null && process.isAlive();
    }

    /**
     * Stops the broker: closes its stdin (it shuts down cleanly on EOF), waits up to the shutdown
     * timeout, then kills it and waits until it is gone. Idempotent; the broker can be started again.
     */
    @Override
    public synchronized void close() {
        Process p = process;
        if (p == null) {
            return;
        }
        try {
            stop(p, shutdownTimeout);
        } finally {
            removeShutdownHook();
            joinPump();
            process = null;
        }
    }

    /** Closes the broker's stdin without waiting, as a dying parent would (for tests). */
    synchronized void closeStdin() throws IOException {
        if (process != null) {
            process.getOutputStream().close();
        }
    }

    // ---------------------------------------------------------------------------------------------

    private void launch(List<String> classPath) {
        List<String> cmd = command(classPath);
        Path log = logFile();
        rotateLog(log);
        appendLog("==== kafka-local " + Instant.now() + ": starting broker " + host + ":" + port
                + " (controller " + controllerPort + ")\n" + String.join(" ", redactClassPath(cmd)));
        ProcessBuilder pb = new ProcessBuilder(cmd)
                .directory(dataDir.toFile())
                .redirectInput(ProcessBuilder.Redirect.PIPE)
                .redirectOutput(ProcessBuilder.Redirect.PIPE)
                .redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()));
        long t0 = System.nanoTime();
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new StartException("cannot spawn " + javaBinary + ": " + e, e);
        }
        process = p;
        CompletableFuture<String> ready = new CompletableFuture<>();
        stdoutPump = new Thread(() -> pumpStdout(p.getInputStream(), ready), "kafka-local-stdout-" + p.pid());
        stdoutPump.setDaemon(true);
        stdoutPump.start();
        installShutdownHook();

        String failure;
        Throwable cause = null;
        try {
            try {
                CompletableFuture.anyOf(ready, p.onExit()).get(startTimeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                // ready ends exceptionally when the broker's stdout closes: judged below
            }
            if (ready.isDone() && !ready.isCompletedExceptionally()) {
                String address = ready.join();
                appendLog("kafka-local: broker pid " + p.pid() + " ready at " + address + " after "
                        + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0) + " ms");
                return;
            }
            p.waitFor(5, TimeUnit.SECONDS);
            failure = "the broker exited before it was ready"
                    + (p.isAlive() ? " (closed its stdout)" : " (exit code " + p.exitValue() + ")");
        } catch (TimeoutException e) {
            failure = "the broker was not ready within " + startTimeout.toSeconds() + " s";
            cause = e;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            failure = "interrupted while waiting for the broker";
            cause = e;
        }
        stop(p, Duration.ofSeconds(2));
        removeShutdownHook();
        joinPump();
        process = null;
        throw new StartException("kafka-local: " + failure + " (" + host + ":" + port + ", data dir " + dataDir
                + ")\n---- last lines of " + log + " ----\n" + tail(log, TAIL_LINES), cause);
    }

    List<String> command(List<String> classPath) {
        List<String> cmd = new ArrayList<>();
        cmd.add(javaBinary.toString());
        cmd.add("-Xms16m");
        cmd.add("-Xmx" + heap);
        cmd.add("-Xss512k");
        cmd.add("-XX:+UseSerialGC");
        if (fastStartup) {
            cmd.add("-XX:TieredStopAtLevel=1");
        }
        cmd.add("-XX:+ExitOnOutOfMemoryError");
        cmd.add("-Djava.awt.headless=true");
        cmd.add("-Dlogback.configurationFile=" + LOGBACK_RESOURCE);
        // the few log4j-api calls in the broker use log4j's simple logger (stderr, ERROR) quietly
        cmd.add("-Dlog4j2.loggerContextFactory=org.apache.logging.log4j.simple.SimpleLoggerContextFactory");
        cmd.addAll(jvmArgs);
        cmd.add("-cp");
        cmd.add(String.join(File.pathSeparator, classPath));
        cmd.add(BROKER_MAIN);
        cmd.add("--data-dir");
        cmd.add(dataDir.toString());
        cmd.add("--host");
        cmd.add(host);
        cmd.add("--port");
        cmd.add(Integer.toString(port));
        cmd.add("--controller-port");
        cmd.add(Integer.toString(controllerPort));
        cmd.add("--node-id");
        cmd.add(Integer.toString(nodeId));
        cmd.add("--log-level");
        cmd.add(logLevel);
        cmd.add("--ready-timeout-ms");
        cmd.add(Long.toString(startTimeout.toMillis()));
        Map<String, String> overrides = new LinkedHashMap<>();
        if (joins != null) {
            overrides.put("process.roles", "broker");
            overrides.put("controller.quorum.voters", joins.nodeId + "@" + joins.host + ":" + joins.controllerPort());
            overrides.put("listeners", KafkaBrokerMain.BROKER_LISTENER + "://" + host + ":" + port);
        }
        overrides.putAll(brokerProperties);
        for (Map.Entry<String, String> e : overrides.entrySet()) {
            cmd.add("--override");
            cmd.add(e.getKey() + "=" + e.getValue());
        }
        return cmd;
    }

    private void pumpStdout(InputStream in, CompletableFuture<String> ready) {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                if (!ready.isDone() && line.startsWith(READY_PREFIX + " ")) {
                    ready.complete(line.substring(READY_PREFIX.length() + 1).trim());
                } else {
                    appendLog("[stdout] " + line);
                }
            }
        } catch (IOException e) {
            // the child is gone or we closed the stream
        } finally {
            ready.completeExceptionally(new IllegalStateException("broker stdout closed"));
        }
    }

    private static void stop(Process p, Duration grace) {
        try {
            if (p.isAlive()) {
                try {
                    p.getOutputStream().close(); // EOF on the broker's stdin: clean shutdown
                } catch (IOException ignored) {
                    // already closed
                }
                if (!p.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
                    p.destroy(); // SIGTERM: the broker's shutdown hook
                    if (!p.waitFor(5, TimeUnit.SECONDS)) {
                        p.destroyForcibly();
                        p.waitFor(30, TimeUnit.SECONDS);
                    }
                }
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
        } finally {
            closeQuietly(p.getInputStream());
        }
    }

    private void cleanUpExited() {
        if (process != null) {
            removeShutdownHook();
            joinPump();
            process = null;
        }
    }

    private void installShutdownHook() {
        Process p = process;
        Thread hook = new Thread(() -> stop(p, Duration.ofSeconds(10)), "kafka-local-stop-" + p.pid());
        try {
            Runtime.getRuntime().addShutdownHook(hook);
            shutdownHook = hook;
        } catch (IllegalStateException e) {
            // the JVM is already shutting down: stop the child right away
            stop(p, Duration.ofSeconds(2));
            throw new StartException("the JVM is shutting down", e);
        }
    }

    private void removeShutdownHook() {
        Thread hook = shutdownHook;
        shutdownHook = null;
        if (hook != null && hook != Thread.currentThread()) {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // shutting down: the hook runs (or ran) anyway
            }
        }
    }

    private void joinPump() {
        Thread t = stdoutPump;
        stdoutPump = null;
        if (t != null) {
            try {
                t.join(2_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void choosePorts(boolean fresh) {
        // on a restart, keep the ports chosen before so that clients' bootstrap address stays valid
        boolean keep = !fresh && port != 0;
        int brokerPort = requestedPort != 0 ? requestedPort : keep ? port : 0;
        int ctlPort = requestedControllerPort != 0 ? requestedControllerPort : keep ? controllerPort : 0;
        try {
            InetAddress addr = InetAddress.getByName(host);
            try (ServerSocket a = brokerPort == 0 ? new ServerSocket(0, 1, addr) : null;
                 ServerSocket b = ctlPort == 0 ? new ServerSocket(0, 1, addr) : null) {
                port = a != null ? a.getLocalPort() : brokerPort;
                controllerPort = b != null ? b.getLocalPort() : ctlPort;
            }
        } catch (IOException e) {
            throw new StartException("cannot find a free port on " + host + ": " + e, e);
        }
        if (port == controllerPort) {
            throw new StartException("broker and controller ports are both " + port, null);
        }
    }

    private static boolean bindFailure(StartException e) {
        String m = e.getMessage();
        return m.contains("Address already in use") || m.contains("BindException");
    }

    /** The broker JVM's class path: the build-time resource (or the override property) plus our own classes. */
    static List<String> brokerClassPath() {
        String override = System.getProperty(CLASSPATH_PROPERTY);
        if (override != null && !override.isBlank()) {
            return List.of(override.split(File.pathSeparator));
        }
        String listed;
        try (InputStream in = LocalKafka.class.getResourceAsStream(CLASSPATH_RESOURCE)) {
            if (in == null) {
                throw new StartException("resource io/jmesh/kafkalocal/" + CLASSPATH_RESOURCE + " is missing:"
                        + " build tools/kafka-local with Maven (its generate-resources phase writes it)", null);
            }
            listed = new String(in.readAllBytes(), StandardCharsets.UTF_8).trim();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<String> entries = new ArrayList<>();
        entries.add(ownLocation().toString());
        List<String> missing = new ArrayList<>();
        for (String entry : listed.split(File.pathSeparator)) {
            String e = entry.trim();
            if (e.isEmpty()) {
                continue;
            }
            if (!Files.exists(Path.of(e))) {
                missing.add(e);
            }
            entries.add(e);
        }
        if (!missing.isEmpty()) {
            throw new StartException("the broker class path names jars that are not in the local Maven repository"
                    + " (was tools/kafka-local built on another machine or the repository cleaned? rebuild it"
                    + " with `mvn -pl tools/kafka-local package`): " + missing, null);
        }
        return entries;
    }

    /** The directory or jar this class was loaded from. */
    static Path ownLocation() {
        URL url = LocalKafka.class.getProtectionDomain().getCodeSource().getLocation();
        try {
            return Path.of(url.toURI()).toAbsolutePath();
        } catch (URISyntaxException e) {
            throw new IllegalStateException("unexpected code source " + url, e);
        }
    }

    static Path currentJava() {
        Path home = Path.of(System.getProperty("java.home"), "bin", isWindows() ? "java.exe" : "java");
        if (Files.isExecutable(home)) {
            return home;
        }
        return ProcessHandle.current().info().command().map(Path::of)
                .orElseThrow(() -> new IllegalStateException("cannot find the java executable of this JVM"));
    }

    private static boolean isWindows() {
        return System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).contains("win");
    }

    private static List<String> redactClassPath(List<String> cmd) {
        List<String> out = new ArrayList<>(cmd);
        int i = out.indexOf("-cp");
        if (i >= 0 && i + 1 < out.size()) {
            out.set(i + 1, "<" + out.get(i + 1).split(File.pathSeparator).length + " entries>");
        }
        return out;
    }

    private void appendLog(String text) {
        try {
            Files.writeString(logFile(), text + System.lineSeparator(), StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException ignored) {
            // logging must not break start/stop
        }
    }

    private static void rotateLog(Path log) {
        try {
            if (Files.size(log) > MAX_LOG_BYTES) {
                Files.move(log, log.resolveSibling(LOG_FILE + ".1"), StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException ignored) {
            // missing or not movable: keep appending
        }
    }

    /** The last {@code lines} lines of a file (reads at most its last 64 KiB). */
    static String tail(Path file, int lines) {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
            long len = f.length();
            long from = Math.max(0, len - 65_536);
            byte[] buf = new byte[(int) (len - from)];
            f.seek(from);
            f.readFully(buf);
            String[] all = new String(buf, StandardCharsets.UTF_8).split("\\R");
            int start = Math.max(0, all.length - lines);
            return String.join(System.lineSeparator(), java.util.Arrays.asList(all).subList(start, all.length));
        } catch (IOException e) {
            return "(cannot read " + file + ": " + e + ")";
        }
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception ignored) {
            // nothing to do
        }
    }

    // ---------------------------------------------------------------------------------------------

    /**
     * Foreground broker for {@code make run}: starts it, prints {@code KAFKA READY host:port} and waits
     * until this JVM is told to stop (SIGTERM/Ctrl-C stop the broker too) or the broker dies.
     *
     * <pre>
     * java -cp tools/kafka-local/target/classes io.jmesh.kafkalocal.LocalKafka --data-dir .mesh/kafka --port 9092
     * </pre>
     */
    public static void main(String[] args) throws InterruptedException {
        Builder b = builder().port(9092).controllerPort(9093).dataDir(Path.of(".mesh", "kafka"));
        try {
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                if (a.equals("-h") || a.equals("--help")) {
                    usage();
                    return;
                }
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException("missing value for " + a);
                }
                String v = args[++i];
                switch (a) {
                    case "--data-dir" -> b.dataDir(Path.of(v));
                    case "--host" -> b.host(v);
                    case "--port" -> b.port(Integer.parseInt(v));
                    case "--controller-port" -> b.controllerPort(Integer.parseInt(v));
                    case "--node-id" -> b.nodeId(Integer.parseInt(v));
                    case "--heap" -> b.heap(v);
                    case "--log-level" -> b.logLevel(v);
                    case "--start-timeout-seconds" -> b.startTimeout(Duration.ofSeconds(Long.parseLong(v)));
                    case "--jvm-arg" -> b.jvmArg(v);
                    case "--fast-startup" -> b.fastStartup(Boolean.parseBoolean(v));
                    case "--override" -> {
                        int eq = v.indexOf('=');
                        if (eq <= 0) {
                            throw new IllegalArgumentException("--override expects key=value, got " + v);
                        }
                        b.brokerProperty(v.substring(0, eq), v.substring(eq + 1));
                    }
                    default -> throw new IllegalArgumentException("unknown option " + a);
                }
            }
        } catch (IllegalArgumentException e) {
            System.err.println("kafka-local: " + e.getMessage());
            usage();
            System.exit(2);
            return;
        }
        LocalKafka kafka = b.build();
        try {
            kafka.start();
        } catch (StartException e) {
            System.err.println(e.getMessage());
            System.exit(1);
            return;
        }
        ProcessHandle child = kafka.process().orElseThrow();
        System.err.println("kafka-local: broker pid " + child.pid() + " serving " + kafka.bootstrapServers()
                + ", data " + kafka.dataDir() + ", log " + kafka.logFile());
        System.out.println(READY_PREFIX + " " + kafka.bootstrapServers());
        System.out.flush();
        // the shutdown hook installed by start() stops the broker on SIGTERM/Ctrl-C
        CountDownLatch forever = new CountDownLatch(1);
        child.onExit().thenRun(forever::countDown);
        forever.await();
        if (shuttingDown()) {
            return; // we were told to stop; the hook stopped the broker
        }
        System.err.println("kafka-local: the broker exited on its own; see " + kafka.logFile());
        System.err.println(tail(kafka.logFile(), 20));
        System.exit(1);
    }

    private static boolean shuttingDown() {
        Thread probe = new Thread(() -> { });
        try {
            Runtime.getRuntime().addShutdownHook(probe);
            Runtime.getRuntime().removeShutdownHook(probe);
            return false;
        } catch (IllegalStateException e) {
            return true;
        }
    }

    private static void usage() {
        System.err.println("usage: LocalKafka [--data-dir .mesh/kafka] [--host 127.0.0.1] [--port 9092]"
                + " [--controller-port 9093] [--node-id 1] [--heap 256m] [--log-level WARN]"
                + " [--start-timeout-seconds 90] [--fast-startup true] [--jvm-arg <option>]... [--override key=value]...");
    }
}
