package io.jmesh.localmesh.compose;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.jmesh.ca.CaConfig;
import io.jmesh.ca.cli.CaCli;
import io.jmesh.core.config.ConfigLoader;
import io.jmesh.localmesh.compose.ComposeFile.Mount;
import io.jmesh.localmesh.compose.ComposeFile.Port;
import io.jmesh.localmesh.compose.ComposeFile.Service;
import io.jmesh.policy.PolicyConfig;
import io.jmesh.policy.resource.ManifestReader;
import io.jmesh.policy.resource.ParsedObject;
import io.jmesh.proto.config.v1.WorkloadEntrySpec;
import io.jmesh.telemetry.TelemetryConfig;
import io.jmesh.waypoint.WaypointManagerConfig;
import io.jmesh.ztunnel.ZtunnelConfig;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What can be proved about docker-compose.yml without a container engine: it parses as Compose reads it; every
 * image is one `make images` builds (or a pinned public one); every service's mounted configuration file and
 * MESH_* variables are accepted by that service's real configuration classes and every file they name is mounted;
 * the init services' ca CLI commands, run for real, leave every credential where the services look for it; the
 * dependencies, healthchecks, network namespaces and published ports hold together; and the compose workload
 * manifests are valid for policy's real manifest reader and place the workloads where the node namespaces hold
 * their addresses.
 */
class DockerComposeTest {

    private static final Path REPO = Path.of(System.getProperty("jmesh.repo", "../..")).toAbsolutePath().normalize();
    private static final String JMESH_IMAGE = "jmesh/";
    /** Public images: pinned by tag, never latest. Kafka is checked against the broker `make run` runs. */
    private static final Set<String> PUBLIC_IMAGES = Set.of("apache/kafka", "busybox", "curlimages/curl");
    private static final String HEALTH_PROBE = "io.jmesh.core.admin.HealthProbe";
    private static final String DEMO_PROBE = "io.jmesh.localmesh.demo.DemoApps";
    private static final Pattern ROUTE = Pattern.compile("ip route add (\\S+) via (\\S+)");
    private static final Pattern LO_ADDRESSES = Pattern.compile("for a in ([0-9. ]+); do ip addr add \\$\\$a/32 dev lo");

    /** The service jars an image runs, by image name: configuration class and the defaults' resource name. */
    private record ConfigType(Class<?> type, String service) {}

    private static final Map<String, ConfigType> CONFIGS = Map.of(
            "ca", new ConfigType(CaConfig.class, "ca"),
            "policy", new ConfigType(PolicyConfig.class, "policy"),
            "ztunnel", new ConfigType(ZtunnelConfig.class, "ztunnel"),
            "telemetry", new ConfigType(TelemetryConfig.class, "telemetry"),
            "waypoint-mgr", new ConfigType(WaypointManagerConfig.class, "waypoint-mgr"));

    private static ComposeFile compose;
    private static String version;

    @BeforeAll
    static void load() throws IOException {
        compose = ComposeFile.load(REPO.resolve("docker-compose.yml"));
        version = pomProperty("<version>", "</version>", REPO.resolve("pom.xml"));
    }

    @Test
    void parsesWithTheWholeTopologyOfMakeRun() {
        assertThat(compose.root()).containsKeys("name", "services", "networks", "volumes");
        assertThat(compose.services()).containsKeys("kafka", "ca", "policy", "telemetry", "waypoint-mgr",
                "node-a", "node-b", "ztunnel-node-a", "ztunnel-node-b", "productpage", "reviews", "echo", "sleep");
        for (Service s : compose.services().values()) {
            // Compose interpolates $VAR: a shell variable must be written $$VAR
            for (String arg : Stream.concat(s.command().stream(), s.entrypoint().stream()).toList()) {
                assertThat(arg.replace("$$", "")).as(s.name() + ": unescaped $ in " + arg).doesNotContain("$");
            }
        }
    }

    @Test
    void everyImageIsOneMakeImagesBuildsOrAPinnedPublicImage() throws IOException {
        Map<String, String> built = imagesBuiltByMakeImages();
        assertThat(built).containsKeys("ca", "policy", "ztunnel", "telemetry", "waypoint-mgr", "demo");
        for (Service s : compose.services().values()) {
            String image = s.image();
            assertThat(image).as(s.name() + " has an image").isNotBlank();
            String name = image.substring(0, image.lastIndexOf(':'));
            String tag = image.substring(image.lastIndexOf(':') + 1);
            if (name.startsWith(JMESH_IMAGE)) {
                String shortName = name.substring(JMESH_IMAGE.length());
                assertThat(built).as(s.name() + ": " + image + " is built by tools/images/build.sh").containsKey(shortName);
                assertThat(tag).as(s.name() + ": the project version").isEqualTo(version);
                assertThat(REPO.resolve(built.get(shortName)).resolve("pom.xml")).exists();
            } else {
                assertThat(PUBLIC_IMAGES).as(s.name() + ": " + image).contains(name);
                assertThat(tag).as(s.name() + ": pinned").matches("\\d+(\\.\\d+)+");
            }
        }
        String kafkaTag = compose.services().get("kafka").image().replace("apache/kafka:", "");
        assertThat(kafkaTag).as("the broker `make run` runs")
                .isEqualTo(pomProperty("<kafka-broker.version>", "</kafka-broker.version>", REPO.resolve("pom.xml")));
    }

    @Test
    void everyServiceConfigurationIsAcceptedByItsRealLoaderAndNamesOnlyMountedFiles() throws IOException {
        int loaded = 0;
        for (Service s : compose.services().values()) {
            ConfigType ct = configType(s);
            if (ct == null || isCli(s)) {
                continue;
            }
            ConfigLoader.Loaded<?> l = loadConfig(s, ct);
            assertThat(l.ignoredEnv()).as(s.name() + ": MESH_* variables no configuration key takes").isEmpty();
            for (Map.Entry<String, String> path : filePaths(effective(l), "").entrySet()) {
                assertThat(mountedTarget(s, path.getValue()))
                        .as(s.name() + ": " + path.getKey() + " = " + path.getValue() + " is on a mounted volume")
                        .isNotNull();
            }
            loaded++;
        }
        assertThat(loaded).isEqualTo(6);   // ca, policy, telemetry, waypoint-mgr, two ztunnels
        ZtunnelConfig a = (ZtunnelConfig) loadConfig(compose.services().get("ztunnel-node-a"), CONFIGS.get("ztunnel")).config();
        ZtunnelConfig b = (ZtunnelConfig) loadConfig(compose.services().get("ztunnel-node-b"), CONFIGS.get("ztunnel")).config();
        assertThat(a.node().name()).isEqualTo("node-a");
        assertThat(a.node().address()).isEqualTo("10.10.1.1");
        assertThat(b.node().name()).isEqualTo("node-b");
        assertThat(b.node().address()).isEqualTo("10.10.2.1");
        assertThat(a.listeners().inboundPerWorkload()).isTrue();
    }

    /**
     * The init services, run in their dependency order with the ca image's real CLI (the busybox steps are shell:
     * chown, which needs root, is skipped; the root-cert copy is done here as its script does it). Afterwards every
     * credential file a service's configuration names exists in the volume mounted at that path.
     */
    @Test
    void theInitServicesLeaveEveryCredentialWhereTheServicesLookForIt(@TempDir Path volumes) throws Exception {
        List<Service> order = topologicalOneShots();
        assertThat(order).extracting(Service::name).startsWith("init-volumes", "init-policy-cert");
        for (Service s : order) {
            if (isCli(s)) {
                List<String> args = new ArrayList<>();
                for (String arg : s.command()) {
                    args.add(hostPath(s, arg, volumes));
                }
                ByteArrayOutputStream err = new ByteArrayOutputStream();
                int code = new CaCli(new PrintStream(new ByteArrayOutputStream()), new PrintStream(err), Clock.systemUTC())
                        .run(args.toArray(String[]::new));
                assertThat(code).as(s.name() + ": " + err.toString(StandardCharsets.UTF_8)).isZero();
            } else if (s.name().equals("init-root-cert")) {
                assertThat(String.join(" ", s.command())).contains("cp /v/ca/root-cert.pem /v/$$d/root-cert.pem")
                        .contains("for d in policy node-a node-b;");
                for (String d : List.of("policy", "node-a", "node-b")) {
                    Files.copy(Path.of(hostPath(s, "/v/ca/root-cert.pem", volumes)),
                            Path.of(hostPath(s, "/v/" + d + "/root-cert.pem", volumes)));
                }
            } else {
                assertThat(s.image()).as(s.name()).startsWith("busybox:");
                for (Mount m : s.mounts()) {
                    Files.createDirectories(volumes.resolve(m.source()));
                }
            }
        }
        int checked = 0;
        for (Service s : compose.services().values()) {
            ConfigType ct = configType(s);
            if (ct == null || isCli(s)) {
                continue;
            }
            for (Map.Entry<String, String> path : filePaths(effective(loadConfig(s, ct)), "").entrySet()) {
                if (path.getKey().endsWith("File")) {
                    assertThat(Path.of(hostPath(s, path.getValue(), volumes)))
                            .as(s.name() + ": " + path.getKey()).isRegularFile().isNotEmptyFile();
                    checked++;
                }
            }
        }
        assertThat(checked).as("policy: cert, key, caFile, tokenFile; each ztunnel: 2 tokens, 2 roots").isEqualTo(12);
        // each node's volume holds its own token
        assertThat(volumes.resolve("node-a-credentials/token")).content()
                .isNotEqualTo(Files.readString(volumes.resolve("node-b-credentials/token")));

        // the names clients dial are in the servers' certificates: policy's as issued, ca's as configured
        X509Certificate policyCert;
        try (InputStream in = Files.newInputStream(volumes.resolve("policy-credentials/cert.pem"))) {
            policyCert = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
        List<String> policyNames = new ArrayList<>();
        for (List<?> san : policyCert.getSubjectAlternativeNames()) {
            policyNames.add(String.valueOf(san.get(1)));
        }
        JsonNode ca = effective(loadConfig(compose.services().get("ca"), CONFIGS.get("ca")));
        List<String> caNames = new ArrayList<>();
        ca.at("/tls/dnsSans").forEach(n -> caNames.add(n.asText()));
        for (String node : List.of("ztunnel-node-a", "ztunnel-node-b")) {
            JsonNode z = effective(loadConfig(compose.services().get(node), CONFIGS.get("ztunnel")));
            assertThat(policyNames).as(node + " dials policy as").contains(host(z.at("/discovery/address").asText()));
            assertThat(caNames).as(node + " dials ca as").contains(host(z.at("/identity/caAddress").asText()));
            assertThat(compose.services()).containsKeys(host(z.at("/discovery/address").asText()),
                    host(z.at("/identity/caAddress").asText()));
        }
        JsonNode policy = effective(loadConfig(compose.services().get("policy"), CONFIGS.get("policy")));
        assertThat(caNames).as("policy dials ca as").contains(policy.at("/tokenReview/host").asText());
    }

    private static String host(String hostPort) {
        return hostPort.substring(0, hostPort.lastIndexOf(':'));
    }

    @Test
    void dependenciesExistAndWaitOnlyForWhatCanSayItIsReady() {
        for (Service s : compose.services().values()) {
            for (Map.Entry<String, String> d : s.dependsOn().entrySet()) {
                Service target = compose.services().get(d.getKey());
                assertThat(target).as(s.name() + " depends on " + d.getKey()).isNotNull();
                switch (d.getValue()) {
                    case "service_healthy" -> assertThat(target.healthcheck())
                            .as(d.getKey() + " has a healthcheck (" + s.name() + " waits for it)").isNotEmpty();
                    case "service_completed_successfully" -> assertThat(target.oneShot())
                            .as(d.getKey() + " is a one-shot (restart: no)").isTrue();
                    default -> throw new AssertionError(s.name() + ": depends_on " + d.getKey()
                            + " without a readiness condition: " + d.getValue());
                }
            }
            if (!s.oneShot()) {
                assertThat(s.healthcheck()).as(s.name() + " (long-running) has a healthcheck").isNotEmpty();
            }
        }
        assertThat(topologicalOneShots()).isNotEmpty();   // and no cycle among the whole graph:
        assertThat(topological(compose.services().keySet())).hasSize(compose.services().size());
    }

    @Test
    void healthchecksProbeWhatTheServiceServesWithAMainTheImageHolds() throws Exception {
        for (Service s : compose.services().values()) {
            List<String> test = s.healthcheck();
            if (test.isEmpty() || s.image().startsWith("apache/kafka") || !s.image().startsWith(JMESH_IMAGE)) {
                continue;
            }
            assertThat(test.subList(0, 2)).as(s.name()).containsExactly("CMD", "java");
            assertThat(test).as(s.name() + ": the image's class path (Jib)").contains("@/app/jib-classpath-file");
            String main = test.get(test.indexOf("@/app/jib-classpath-file") + 1);
            Class.forName(main);   // on the class path of the module the image is built from
            ConfigType ct = configType(s);
            if (main.equals(HEALTH_PROBE)) {
                assertThat(ct).as(s.name() + ": HealthProbe is in mesh-core, in every service image").isNotNull();
                URI url = URI.create(test.get(test.size() - 1));
                JsonNode cfg = effective(loadConfig(s, ct));
                if (ct.service().equals("ztunnel")) {
                    assertThat(url.getHost()).isEqualTo(cfg.at("/node/address").asText());
                    assertThat(url.getPort()).isEqualTo(cfg.at("/listeners/readiness").asInt());
                } else {
                    assertThat(url.getHost()).isEqualTo("127.0.0.1");
                    assertThat(cfg.at("/admin/host").asText()).isIn("0.0.0.0", "127.0.0.1");
                    assertThat(url.getPort()).isEqualTo(cfg.at("/admin/port").asInt());
                }
                assertThat(url.getPath()).isEqualTo("/healthz/ready");
            } else {
                assertThat(main).as(s.name()).isEqualTo(DEMO_PROBE);
                assertThat(s.image()).startsWith("jmesh/demo:");
                String probed = test.get(test.indexOf("--probe") + 1);
                assertThat(String.join(" ", s.command())).as(s.name() + " probes the address it listens on")
                        .contains(probed);
            }
        }
    }

    @Test
    void nodeNamespacesHoldTheirWorkloadsAddressesAndRouteToEachOther() {
        Map<String, Set<String>> held = new HashMap<>();
        Map<String, String> holderAddress = new HashMap<>();
        Map<String, String> routedVia = new HashMap<>();
        Map<String, String> routedRange = new HashMap<>();
        for (String node : List.of("node-a", "node-b")) {
            Service h = compose.services().get(node);
            String script = String.join(" ", h.command());
            Matcher lo = LO_ADDRESSES.matcher(script);
            assertThat(lo.find()).as(node + " adds its addresses to lo").isTrue();
            held.put(node, Set.of(lo.group(1).trim().split("\\s+")));
            Matcher route = ROUTE.matcher(script);
            assertThat(route.find()).as(node + " routes the other node's range").isTrue();
            routedRange.put(node, route.group(1));
            routedVia.put(node, route.group(2));
            holderAddress.put(node, h.ipv4Address("mesh"));
            assertThat(ComposeFile.strings(h.raw().get("cap_add"))).contains("NET_ADMIN");
        }
        assertThat(routedVia.get("node-a")).isEqualTo(holderAddress.get("node-b"));
        assertThat(routedVia.get("node-b")).isEqualTo(holderAddress.get("node-a"));
        held.get("node-b").forEach(a -> assertThat(inCidr(a, routedRange.get("node-a"))).as(a).isTrue());
        held.get("node-a").forEach(a -> assertThat(inCidr(a, routedRange.get("node-b"))).as(a).isTrue());
        // fixed holder addresses: inside the subnet, outside the range Docker hands out dynamically
        Map<?, ?> ipam = (Map<?, ?>) ((List<?>) ((Map<?, ?>) ((Map<?, ?>) compose.section("networks").get("mesh"))
                .get("ipam")).get("config")).get(0);
        for (String a : holderAddress.values()) {
            assertThat(inCidr(a, (String) ipam.get("subnet"))).isTrue();
            assertThat(inCidr(a, (String) ipam.get("ip_range"))).isFalse();
        }
        for (Service s : compose.services().values()) {
            String owner = s.namespaceOwner();
            if (owner != null) {
                Service o = compose.services().get(owner);
                assertThat(o).as(s.name() + ": network_mode target").isNotNull();
                assertThat(o.networkMode()).as(owner + " owns its namespace").isNull();
                assertThat(s.raw()).as(s.name() + ": in another's namespace, no ports or networks of its own")
                        .doesNotContainKeys("ports", "networks");
                assertThat(s.dependsOn()).as(s.name() + " starts after its namespace exists").containsKey(owner);
            }
        }
        // each ztunnel lives in the namespace of the node it is configured as, holding its node address
        for (String node : List.of("node-a", "node-b")) {
            Service z = compose.services().get("ztunnel-" + node);
            assertThat(z.namespaceOwner()).isEqualTo(node);
            assertThat(z.environment()).containsEntry("MESH_NODE_NAME", node);
            assertThat(held.get(node)).contains(z.environment().get("MESH_NODE_ADDRESS"));
        }
    }

    @Test
    void composeManifestsAreValidForPolicyAndPlaceEachWorkloadInItsNodesNamespace() throws IOException {
        Map<String, ParsedObject> composeObjects = manifests(REPO.resolve("demo/compose/manifests"));
        Map<String, ParsedObject> localObjects = manifests(REPO.resolve("demo/manifests"));
        assertThat(composeObjects.keySet()).as("the same objects as `make run`").isEqualTo(localObjects.keySet());
        Map<String, Set<String>> held = new HashMap<>();
        for (String node : List.of("node-a", "node-b")) {
            Matcher lo = LO_ADDRESSES.matcher(String.join(" ", compose.services().get(node).command()));
            assertThat(lo.find()).isTrue();
            held.put(node, Set.of(lo.group(1).trim().split("\\s+")));
        }
        int workloads = 0;
        for (ParsedObject o : composeObjects.values()) {
            if (!o.kind().equals("WorkloadEntry")) {
                continue;
            }
            WorkloadEntrySpec we = o.record().getWorkloadEntry();
            WorkloadEntrySpec local = localObjects.get(o.describe()).record().getWorkloadEntry();
            assertThat(we.getNode()).as(o.describe() + ": the node `make run` puts it on").isEqualTo(local.getNode());
            assertThat(we.getServiceAccount()).isEqualTo(local.getServiceAccount());
            assertThat(held.get(we.getNode())).as(o.describe() + ": its node namespace holds " + we.getAddress())
                    .contains(we.getAddress());
            // a workload container runs in that node's namespace and listens on the entry's address
            String name = o.name();
            Service w = compose.services().get(name);
            assertThat(w).as("a service for workload " + name).isNotNull();
            assertThat(w.namespaceOwner()).as(name).isEqualTo(we.getNode());
            if (w.image().startsWith("jmesh/demo:")) {
                assertThat(w.command()).as(name).containsSubsequence("--" + name,
                        we.getAddress() + ":" + we.getPortsMap().values().iterator().next());
            }
            workloads++;
        }
        assertThat(workloads).isEqualTo(4);
        Service policy = compose.services().get("policy");
        assertThat(policy.mounts()).contains(new Mount("./demo/compose/manifests", "/etc/jmesh/manifests", true));
    }

    @Test
    void publishedPortsAreLoopbackOnlyDistinctAndServedInside() throws IOException {
        Set<String> seen = new HashSet<>();
        int published = 0;
        for (Service s : compose.services().values()) {
            for (Port p : s.ports()) {
                assertThat(p.hostIp()).as(s.name() + ": published on loopback only").isEqualTo("127.0.0.1");
                assertThat(seen.add(p.hostIp() + ":" + p.hostPort())).as(s.name() + ": host port " + p.hostPort()
                        + " is published once").isTrue();
                assertThat(portsServedIn(s)).as(s.name() + ": something in its namespace listens on "
                        + p.containerPort() + " on all interfaces").contains(p.containerPort());
                published++;
            }
        }
        assertThat(published).isEqualTo(6);
    }

    // ---------------------------------------------------------------------------------------------------------

    /** Admin ports bound to 0.0.0.0 by the jmesh services in {@code s}'s network namespace. */
    private static Set<Integer> portsServedIn(Service s) throws IOException {
        Set<Integer> ports = new HashSet<>();
        for (Service other : compose.services().values()) {
            boolean same = other == s || s.name().equals(other.namespaceOwner());
            ConfigType ct = configType(other);
            if (same && ct != null && !isCli(other)) {
                JsonNode cfg = effective(loadConfig(other, ct));
                if (cfg.at("/admin/host").asText().equals("0.0.0.0")) {
                    ports.add(cfg.at("/admin/port").asInt());
                }
            }
        }
        return ports;
    }

    private static ConfigType configType(Service s) {
        String image = s.image();
        if (!image.startsWith(JMESH_IMAGE)) {
            return null;
        }
        return CONFIGS.get(image.substring(JMESH_IMAGE.length(), image.lastIndexOf(':')));
    }

    /** A one-shot running the ca CLI (its command starts with a CLI word) rather than the server. */
    private static boolean isCli(Service s) {
        return s.image().startsWith("jmesh/ca:") && !s.command().isEmpty() && CaCli.COMMANDS.contains(s.command().get(0));
    }

    private static ConfigLoader.Loaded<?> loadConfig(Service s, ConfigType ct) {
        Map<String, String> env = s.environment();
        String file = env.get(ConfigLoader.ENV_CONFIG_FILE);
        assertThat(file).as(s.name() + ": MESH_CONFIG names its configuration file").isNotNull();
        Mount m = s.mounts().stream().filter(x -> x.target().equals(file)).findFirst().orElse(null);
        assertThat(m).as(s.name() + ": " + file + " is mounted").isNotNull();
        assertThat(m.bind() && m.readOnly()).as(s.name() + ": a read-only bind mount from the repository").isTrue();
        Path source = REPO.resolve(m.source()).normalize();
        assertThat(source).as(s.name() + ": " + m.source()).isRegularFile();
        return ConfigLoader.load(ct.type(), ct.service(), source, env);
    }

    /** The effective configuration as a Jackson tree, for its path queries. */
    private static JsonNode effective(ConfigLoader.Loaded<?> loaded) {
        try {
            return new ObjectMapper().readTree(loaded.effective().encode());
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Every non-empty absolute path among the leaves named *File, *Dir or dir: dotted key -> path. */
    private static Map<String, String> filePaths(JsonNode node, String prefix) {
        Map<String, String> out = new TreeMap<>();
        node.fields().forEachRemaining(e -> {
            String key = prefix + e.getKey();
            if (e.getValue().isObject()) {
                out.putAll(filePaths(e.getValue(), key + "."));
            } else if (e.getValue().isTextual() && (e.getKey().endsWith("File") || e.getKey().endsWith("Dir")
                    || e.getKey().equals("dir"))) {
                String v = e.getValue().asText();
                if (!v.isEmpty()) {
                    assertThat(v).as(key + ": absolute inside a container").startsWith("/");
                    out.put(key, v);
                }
            }
        });
        return out;
    }

    private static Mount mountedTarget(Service s, String path) {
        return s.mounts().stream().filter(m -> path.equals(m.target()) || path.startsWith(m.target() + "/"))
                .findFirst().orElse(null);
    }

    /** A container path of {@code s} → where the test keeps that volume's files. */
    private static String hostPath(Service s, String arg, Path volumes) {
        if (!arg.startsWith("/")) {
            return arg;
        }
        Mount m = mountedTarget(s, arg);
        assertThat(m).as(s.name() + ": " + arg + " is on a mounted volume").isNotNull();
        assertThat(m.bind()).as(s.name() + ": credentials live in named volumes").isFalse();
        assertThat(compose.section("volumes")).as("declared volume " + m.source()).containsKey(m.source());
        return volumes.resolve(m.source()).resolve(arg.substring(m.target().length()).replaceFirst("^/", "")).toString();
    }

    private static List<Service> topologicalOneShots() {
        Set<String> oneShots = new HashSet<>();
        compose.services().values().stream().filter(Service::oneShot).forEach(s -> oneShots.add(s.name()));
        return topological(oneShots);
    }

    /** Kahn's algorithm over depends_on, restricted to {@code names}; a cycle leaves services out. */
    private static List<Service> topological(Set<String> names) {
        Map<String, Set<String>> waiting = new LinkedHashMap<>();
        for (String n : names) {
            Set<String> deps = new HashSet<>(compose.services().get(n).dependsOn().keySet());
            deps.retainAll(names);
            waiting.put(n, deps);
        }
        List<Service> order = new ArrayList<>();
        for (int round = 0; round < names.size() && !waiting.isEmpty(); round++) {
            List<String> free = waiting.entrySet().stream().filter(e -> e.getValue().isEmpty()).map(Map.Entry::getKey)
                    .toList();
            for (String f : free) {
                waiting.remove(f);
                order.add(compose.services().get(f));
                waiting.values().forEach(d -> d.remove(f));
            }
        }
        return order;
    }

    /** tools/images/build.sh's {@code images=(name:module ...)}: image name -> module directory. */
    private static Map<String, String> imagesBuiltByMakeImages() throws IOException {
        String script = Files.readString(REPO.resolve("tools/images/build.sh"));
        Matcher m = Pattern.compile("(?m)^images=\\(([^)]*)\\)").matcher(script);
        assertThat(m.find()).as("tools/images/build.sh lists images=(name:module ...)").isTrue();
        Map<String, String> out = new LinkedHashMap<>();
        for (String pair : m.group(1).trim().split("\\s+")) {
            String[] nm = pair.split(":");
            out.put(nm[0], nm[1]);
        }
        return out;
    }

    private static Map<String, ParsedObject> manifests(Path dir) throws IOException {
        ManifestReader reader = new ManifestReader("istio-system");
        Map<String, ParsedObject> out = new TreeMap<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".yaml")).sorted().toList()) {
                for (ParsedObject o : reader.read(Files.readString(f))) {
                    assertThat(o.errors()).as(f.getFileName() + ": " + o.describe()).isEmpty();
                    assertThat(o.accepted()).isTrue();
                    assertThat(out.put(o.describe(), o)).as("one " + o.describe()).isNull();
                }
            }
        }
        assertThat(out).isNotEmpty();
        return out;
    }

    private static boolean inCidr(String address, String cidr) {
        String[] parts = cidr.split("/");
        int bits = Integer.parseInt(parts[1]);
        long mask = bits == 0 ? 0 : (0xFFFFFFFFL << (32 - bits)) & 0xFFFFFFFFL;
        return (ipv4(address) & mask) == (ipv4(parts[0]) & mask);
    }

    private static long ipv4(String a) {
        long v = 0;
        for (String octet : a.split("\\.")) {
            v = (v << 8) | Integer.parseInt(octet);
        }
        return v;
    }

    /** The first {@code open...close} of the root pom after the parent's coordinates (version) or a property. */
    private static String pomProperty(String open, String close, Path pom) throws IOException {
        String text = Files.readString(pom);
        int start = text.indexOf(open, text.indexOf("<artifactId>jmesh-parent</artifactId>"));
        return text.substring(start + open.length(), text.indexOf(close, start)).trim();
    }
}
