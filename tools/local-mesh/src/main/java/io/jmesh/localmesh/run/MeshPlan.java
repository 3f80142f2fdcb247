package io.jmesh.localmesh.run;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;

/**
 * What {@code make run} starts and how each piece is configured: one YAML file per component, written under
 * {@code <state>/config/} at every start (so a changed layout takes effect), credentials under
 * {@code <state>/credentials/} created once and reused.
 */
public final class MeshPlan {

    static final String[] SERVICES = {"ca", "policy", "telemetry", "waypoint-mgr", "ztunnel"};

    private final Path repo;
    private final Path state;
    private final Path config;
    private final Path credentials;
    private final String java;
    private final Topology topology;

    /** {@code make run}'s plan: {@link Topology#local}. */
    public MeshPlan(Path repo, Path state) {
        this(repo, state, Topology.local(repo));
    }

    public MeshPlan(Path repo, Path state, Topology topology) {
        this.topology = topology;
        this.repo = repo;
        this.state = state;
        this.config = state.resolve("config");
        this.credentials = state.resolve("credentials");
        this.java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    /** The first service jar that is not built, or null. */
    public String missingJars() {
        for (String s : SERVICES) {
            if (!Files.isRegularFile(jar(s))) {
                return repo.relativize(jar(s)).toString();
            }
        }
        return null;
    }

    public Path stateDir() {
        return state;
    }

    Path jar(String service) {
        return repo.resolve("services").resolve(service).resolve("target").resolve(service + ".jar");
    }

    Path caState() {
        return state.resolve("ca");
    }

    Path rootCert() {
        return caState().resolve("root-cert.pem");
    }

    Path token(String subject) {
        return credentials.resolve(subject + ".token");
    }

    private Component certificateAuthority() throws IOException {
        String ca = topology.ca();
        return service("ca", ca, "15012 gRPC (Istio CA API), 15014 admin", """
                trustDomain: %s
                stateDir: %s
                admin: {host: %s, port: %d}
                grpc: {host: %s, port: %d}
                tls: {ipSans: [%s, 127.0.0.1]}
                placement: {source: config-log}
                kafka: {bootstrapServers: "%s"}
                """.formatted(Layout.TRUST_DOMAIN, caState(), ca, Layout.ADMIN_PORT, ca, Layout.CA_PORT,
                ca, kafka()), ready(ca, Layout.ADMIN_PORT));
    }

    /**
     * Before anything starts: bearer tokens for both nodes and for policy (its TokenReview calls), and policy's
     * serving certificate, all made by the ca CLI on the CA's state directory (the first call creates the root of
     * trust there). Tokens are made once and reused; the certificate is re-issued at every start.
     */
    public void prepareCredentials(Supervisor sup) throws IOException, InterruptedException {
        Files.createDirectories(credentials);
        // re-issued at every start (short-lived, like every certificate in the mesh), alongside the tokens: it
        // touches only the root material, the token commands only tokens.json (which they update one at a time)
        CompletableFuture<Void> cert = CompletableFuture.runAsync(() -> cli(sup, "policy's serving certificate",
                "cert", "issue", "--service", "policy", "--dns", "policy.istio-system.svc,localhost",
                "--ip", topology.policy(), "--validity", "7d",
                "--cert-out", credentials.resolve("policy-cert.pem").toString(),
                "--key-out", credentials.resolve("policy-key.pem").toString()));
        for (Topology.Node n : topology.nodes()) {
            if (!Files.isRegularFile(token(n.name()))) {
                cli(sup, "token for " + n.name(), "token", "create", "--node", n.name(),
                        "--out", token(n.name()).toString());
            }
        }
        if (!Files.isRegularFile(token("policy"))) {
            cli(sup, "token for policy", "token", "create", "--service", "policy", "--out", token("policy").toString());
        }
        try {
            cert.join();
        } catch (CompletionException e) {
            throw e.getCause() instanceof IllegalStateException ise ? ise : e;
        }
    }

    private void cli(Supervisor sup, String what, String... args) {
        try {
            runCli(sup, what, args);
        } catch (IOException e) {
            throw new IllegalStateException("ca " + args[0] + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while running ca " + args[0], e);
        }
    }

    private void runCli(Supervisor sup, String what, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(java, "-jar", jar("ca").toString()));
        cmd.addAll(List.of(args));
        cmd.addAll(List.of("--state-dir", caState().toString(), "--trust-domain", Layout.TRUST_DOMAIN));
        Path log = state.resolve("logs").resolve("ca-cli.log");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            p.destroyForcibly();
            throw new IllegalStateException("ca " + String.join(" ", args) + " failed; see " + log);
        }
        sup.progress("made    %s", what);
    }

    /**
     * The control plane, started together: ca, policy (the registry, fed by demo/manifests/; it creates the config
     * log the CA's placement reads), telemetry and waypoint-mgr.
     */
    public List<Component> controlPlane() throws IOException {
        List<Component> list = new ArrayList<>();
        list.add(certificateAuthority());
        String policy = topology.policy();
        list.add(service("policy", policy, "15010 gRPC (delta ADS, config admin), 15014 admin", """
                mesh: {trustDomain: %s}
                admin: {host: %s, port: %d}
                kafka: {bootstrapServers: "%s"}
                xds: {host: %s, port: %d, certFile: %s, keyFile: %s}
                tokenReview: {host: %s, port: %d, caFile: %s, tokenFile: %s}
                manifests: {dir: %s}
                """.formatted(Layout.TRUST_DOMAIN, policy, Layout.ADMIN_PORT, kafka(), policy,
                Layout.XDS_PORT, credentials.resolve("policy-cert.pem"), credentials.resolve("policy-key.pem"),
                topology.ca(), Layout.CA_PORT, rootCert(), token("policy"), topology.manifests()),
                ready(policy, Layout.ADMIN_PORT)));
        String telemetry = topology.telemetry();
        list.add(service("telemetry", telemetry, "15014 metrics, service graph", """
                admin: {host: %s, port: %d}
                kafka: {bootstrapServers: "%s"}
                """.formatted(telemetry, Layout.ADMIN_PORT, kafka()), ready(telemetry, Layout.ADMIN_PORT)));
        String waypointMgr = topology.waypointMgr();
        list.add(service("waypoint-mgr", waypointMgr, "15014 admin", """
                admin: {host: %s, port: %d}
                """.formatted(waypointMgr, Layout.ADMIN_PORT), ready(waypointMgr, Layout.ADMIN_PORT)));
        return list;
    }

    /** Then the data plane: one ztunnel per node, and the demo workloads. */
    public List<Component> dataPlane() throws IOException {
        List<Component> list = new ArrayList<>(ztunnels());
        list.add(new Component("demo-apps", List.of(java, "-cp", classPath(), "io.jmesh.localmesh.demo.DemoApps",
                "--socks", Layout.NODE_A.address() + ":15080",
                "--reviews-url", Layout.REVIEWS_HOST + ":9080"), Map.of(),
                URI.create("http://" + Layout.REVIEWS + ":9080/reviews"),
                Layout.PRODUCTPAGE + ", " + Layout.REVIEWS + ", " + Layout.ECHO, "9080, 9080, 9000", ""));
        return list;
    }

    /** One ztunnel per node of the topology. */
    public List<Component> ztunnels() throws IOException {
        List<Component> list = new ArrayList<>();
        for (Topology.Node n : topology.nodes()) {
            list.add(ztunnel(n));
        }
        return list;
    }

    private Component ztunnel(Topology.Node n) throws IOException {
        String name = "ztunnel-" + n.name();
        String yaml = """
                admin: {host: %s, port: 15020}
                node: {name: %s, address: %s, trustDomain: %s%s}
                listeners: {localAdmin: %d%s}
                discovery: {address: "%s:%d", tokenFile: %s, rootCertFile: %s}
                identity: {caAddress: "%s:%d", tokenFile: %s, rootCertFile: %s, trustBundle: {watch: true}}
                kafka: {bootstrapServers: "%s"}
                """.formatted(n.address(), n.name(), n.address(), Layout.TRUST_DOMAIN,
                n.dualStackAddress().isEmpty() ? "" : ", dualStackAddress: \"" + n.dualStackAddress() + "\"",
                n.localAdminPort(),
                n.listeners().isEmpty() ? "" : ", " + n.listeners(),
                topology.policy(), Layout.XDS_PORT, token(n.name()), rootCert(), topology.ca(), Layout.CA_PORT,
                token(n.name()), rootCert(), kafka()) + n.extraConfig();
        return new Component(name, command("ztunnel", write(name, yaml), n.namespace()), Map.of(),
                ready(n.address(), 15021), n.address(),
                "15001 15006 15008 15053 15080 15020 15021, 127.0.0.1:" + n.localAdminPort() + " admin", n.namespace());
    }

    private Component service(String name, String address, String ports, String yaml, URI ready) throws IOException {
        String ns = topology.controlPlaneNamespace();
        return new Component(name, command(name, write(name, yaml), ns), Map.of(), ready, address, ports, ns);
    }

    private List<String> command(String service, Path configFile, String namespace) {
        List<String> cmd = new ArrayList<>();
        if (!namespace.isEmpty()) {
            cmd.addAll(List.of("ip", "netns", "exec", namespace));
        }
        // seven JVMs share a small machine: a serial collector and a bounded heap each
        cmd.addAll(List.of(java, "-XX:+UseSerialGC", "-Xmx256m", "-jar", jar(service).toString(),
                "--config", configFile.toString()));
        return cmd;
    }

    private Path write(String name, String yaml) throws IOException {
        Files.createDirectories(config);
        Path file = config.resolve(name + ".yaml");
        Files.writeString(file, "# written by `make run` at every start; edit tools/local-mesh to change it\n" + yaml);
        return file;
    }

    private static URI ready(String host, int port) {
        return URI.create("http://" + host + ":" + port + "/healthz/ready");
    }

    private String kafka() {
        return topology.kafka() + ":" + Layout.KAFKA_PORT;
    }

    private static String classPath() {
        return System.getProperty("java.class.path");
    }
}
