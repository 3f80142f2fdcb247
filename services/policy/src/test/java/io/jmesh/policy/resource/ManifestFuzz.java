package io.jmesh.policy.resource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.core.configlog.ConfigSnapshot;
import io.jmesh.policy.state.MeshSettings;
import io.jmesh.policy.state.MeshStateBuilder;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.config.v1.ServicePort;
import io.jmesh.testing.fuzz.Fuzzer;
import io.jmesh.testing.fuzz.NameLookups;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link ManifestReader#read}, the way every manifest enters the mesh ({@code ConfigApplier}), against mutated
 * Kubernetes / Istio manifests: Namespace, Service, WorkloadEntry, AuthorizationPolicy, PeerAuthentication, Gateway
 * (a sandwiched waypoint, a network's east-west gateway), GatewayClass and ServiceEntry (inline endpoints, a
 * selector, DNS resolution, Istio's allocated addresses in its status; other kinds are refused as unsupported), one
 * or several documents per text.
 *
 * <p>Oracle: {@code read} never throws; each document is either accepted (a record, no errors, a valid key) or
 * rejected whole with errors that each carry a message and name the field: a path under {@code apiVersion},
 * {@code kind}, {@code metadata} or {@code spec} (or an unknown top-level field), or no path only for a document
 * that is not YAML or not a mapping. Numbers are reported and kept as written: an "N is out of range" error and an
 * accepted port, weight or generation show a value some integer literal of the text has (decimal, hex, octal,
 * binary, with '_'). IP fields are read as literals only: no host name is ever resolved ({@link NameLookups}).
 * Reading is deterministic, and the accepted documents translate ({@link MeshStateBuilder}) without an exception.
 * Each input within {@link #SLOW}.
 */
@Tag("fuzz")
class ManifestFuzz {

    static final Duration SLOW = Duration.ofSeconds(2);
    static final Set<String> TOP_LEVEL = Set.of("apiVersion", "kind", "metadata", "spec");
    static final MeshSettings SETTINGS = new MeshSettings("istio-system", "cluster.local", "Kubernetes",
            "cluster.local");

    final ManifestReader reader = new ManifestReader("istio-system");

    static byte[][] seeds() {
        return new byte[][] {utf8("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: db, namespace: shop, labels: {istio.io/use-waypoint: egress}}
                spec:
                  hosts: [db.internal.example, "*.db.example"]
                  addresses: [10.200.0.10/32]
                  resolution: STATIC
                  location: MESH_EXTERNAL
                  ports: [{number: 5432, name: postgres, protocol: TCP, targetPort: 6432}]
                  endpoints: [{address: 192.0.2.10, ports: {postgres: 16432}, weight: 2, network: vm-net}]
                  subjectAltNames: [spiffe://cluster.local/ns/shop/sa/db]
                ---
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: api, namespace: shop}
                spec:
                  hosts: [api.example.com]
                  resolution: DNS
                  ports: [{number: 443, name: https, protocol: TLS}]
                  workloadSelector: {labels: {app: api}}
                status:
                  addresses: [{value: 240.240.0.1, host: api.example.com}]
                """), utf8("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: vm-1, namespace: shop, labels: {app: reviews}, generation: 9223372036854775807}
                spec:
                  address: 127.0.10.5
                  ports: {http: 9080}
                  labels: {version: v1, topology.kubernetes.io/region: eu}
                  network: net-a
                  locality: eu/west/a
                  weight: 4294967295
                  serviceAccount: reviews
                  node: node-a
                  health: HEALTHY
                """), utf8("""
                apiVersion: v1
                kind: Service
                metadata:
                  name: reviews
                  annotations: {networking.istio.io/traffic-distribution: prefersamenode}
                spec:
                  selector: {app: reviews}
                  clusterIP: 10.96.0.10
                  clusterIPs: [10.96.0.10, "fd00::10"]
                  ports:
                  - {name: http, port: 80, targetPort: http}
                  - {name: grpc, port: 65535, targetPort: 19090, appProtocol: grpc, protocol: UDP}
                  trafficDistribution: PreferSameNode
                  internalTrafficPolicy: Cluster
                  publishNotReadyAddresses: true
                  sessionAffinity: None
                """), utf8("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: allow-sleep, namespace: shop}
                spec:
                  selector: {matchLabels: {app: reviews}}
                  action: ALLOW
                  rules:
                  - from:
                    - source:
                        principals: ["cluster.local/ns/shop/sa/sleep", "*/sa/curl"]
                        notNamespaces: [evil]
                        ipBlocks: [10.0.0.0/8, "fd00::/8"]
                    to:
                    - operation: {ports: ["9080"], methods: [GET]}
                    when:
                    - {key: source.ip, notValues: [10.9.0.0/16]}
                    - {key: "request.auth.claims[iss]", values: ["https://accounts.example.com"]}
                """), utf8("""
                apiVersion: security.istio.io/v1beta1
                kind: AuthorizationPolicy
                metadata: {name: ext, namespace: istio-system}
                spec:
                  action: CUSTOM
                  provider: {name: opa}
                  targetRefs: [{kind: Service, group: "", name: reviews}]
                  rules: [{to: [{operation: {paths: [/admin*], notHosts: ["*.example.com"]}}]}]
                """), utf8("""
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: strict-db, namespace: shop}
                spec:
                  selector: {matchLabels: {app: db}}
                  mtls: {mode: STRICT}
                  portLevelMtls:
                    "9100": {mode: PERMISSIVE}
                    "65535": {mode: DISABLE}
                """), utf8("""
                apiVersion: v1
                kind: Namespace
                metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
                ---
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: db-1, namespace: shop}
                spec: {address: "fd00::6", labels: {app: db}, node: node-b}
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: db, namespace: shop}
                spec: {selector: {app: db}, ports: [{port: 5432}]}
                """), utf8("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: GatewayClass
                metadata:
                  name: sandwiched.example.com
                  annotations: {ambient.istio.io/waypoint-inbound-binding: PROXY/15088}
                spec: {controllerName: example.com/gateway-controller, description: behind ztunnel}
                ---
                apiVersion: gateway.networking.k8s.io/v1beta1
                kind: Gateway
                metadata:
                  name: waypoint
                  namespace: shop
                  annotations: {ambient.istio.io/waypoint-inbound-binding: PROXY/65535}
                spec:
                  gatewayClassName: sandwiched.example.com
                  listeners: [{name: proxy, port: 15088, protocol: PROXY}]
                ---
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata:
                  name: waypoint-1
                  namespace: shop
                  labels: {gateway.networking.k8s.io/gateway-name: waypoint}
                spec: {address: 127.0.10.20, node: node-a}
                """), utf8("""
                apiVersion: v1
                kind: Namespace
                metadata: {name: west, labels: {topology.istio.io/network: net-b}}
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata:
                  name: istio-eastwestgateway
                  namespace: istio-system
                  labels: {topology.istio.io/network: net-b}
                spec:
                  gatewayClassName: istio-east-west
                  listeners:
                  - name: mesh
                    port: 15008
                    protocol: HBONE
                    tls: {mode: Terminate, options: {gateway.istio.io/tls-terminate-mode: ISTIO_MUTUAL}}
                  addresses: [{type: IPAddress, value: 192.0.2.10}, {value: "fd00::10"}]
                ---
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: west-1, namespace: west}
                spec: {address: 10.1.0.6, node: node-b}
                """)};
    }

    @BeforeAll
    static void watchNameLookups() {
        NameLookups.install();
    }

    @AfterAll
    static void stopWatching() {
        NameLookups.uninstall();
    }

    /** Documents read, by outcome: a run that accepts nothing tests nothing. */
    final Map<String, Long> outcomes = new TreeMap<>();

    @Test
    void everyDocumentIsAcceptedOrRejectedNamingTheField() {
        assertTimeoutPreemptively(Duration.ofSeconds(Long.getLong("fuzz.seconds", 20)
                + TimeUnit.MINUTES.toSeconds(1)), () -> Fuzzer.named("manifests", 4096).seeds(seeds())
                        .run(this::readAndCheck), "a fuzz input hung; replay with the printed -Dfuzz.seed");
        System.out.println("fuzz manifests: documents " + outcomes);
        assertThat(outcomes.keySet()).as("every kind of the seeds accepted").contains("accepted Namespace",
                "accepted Service", "accepted WorkloadEntry", "accepted AuthorizationPolicy",
                "accepted PeerAuthentication", "accepted Gateway", "accepted GatewayClass");
    }

    /** The same checks under Jazzer, coverage-guided through SnakeYAML and the readers (`make fuzz`). */
    @MethodSource("jazzerSeeds")
    @FuzzTest(maxDuration = "60s")
    void everyDocumentCoverageGuided(byte[] input) throws Exception {
        Fuzzer.withinTwice(SLOW, this::check, input);
    }

    static Stream<Arguments> jazzerSeeds() {
        return Stream.of(seeds()).map(s -> Arguments.of((Object) s));
    }

    /** {@link #check}, within {@link #SLOW}. */
    private void readAndCheck(byte[] input) throws Exception {
        long start = System.nanoTime();
        check(input);
        assertThat(Duration.ofNanos(System.nanoTime() - start)).as("time for one input").isLessThan(SLOW);
    }

    /** One input read as a manifest: every document accepted within its fields or rejected naming the field. */
    private void check(byte[] input) throws Exception {
        String text = new String(input, StandardCharsets.UTF_8);
        List<ParsedObject> read = NameLookups.forbidden(() -> reader.read(text));
        Set<BigInteger> written = integerLiterals(text);
        int previous = -1;
        for (ParsedObject o : read) {
            assertThat(o.documentIndex()).isGreaterThan(previous);
            previous = o.documentIndex();
            if (o.accepted()) {
                checkAccepted(o, written);
            } else {
                checkRejected(o, written);
            }
            outcomes.merge((o.accepted() ? "accepted " : "rejected ") + (o.kind().isEmpty() ? "?" : o.kind()), 1L,
                    Long::sum);
        }
        assertThat(NameLookups.forbidden(() -> reader.read(text))).as("read again").isEqualTo(read);
        NameLookups.forbidden(() -> translate(read));
    }

    private static void checkAccepted(ParsedObject o, Set<BigInteger> written) {
        assertThat(o.errors()).isEmpty();
        ConfigRecord r = o.record();
        ConfigKey key = o.key();
        assertThat(ManifestReader.API_VERSIONS).containsKey(key.kind());
        assertThat(key.namespace().isEmpty()).as("only cluster-scoped kinds have no namespace: %s", key)
                .isEqualTo(ManifestReader.CLUSTER_SCOPED.contains(key.kind()));
        assertThat(o.warnings()).allSatisfy(w -> assertThat(w).isNotBlank());
        List<Long> numbers = new ArrayList<>();
        if (r.getMetadata().getGeneration() != 0) {
            numbers.add(r.getMetadata().getGeneration());
        }
        for (ServicePort p : r.getService().getPortsList()) {
            numbers.add((long) p.getPort());
            if (p.getTargetPortNumber() != 0) {
                numbers.add((long) p.getTargetPortNumber());
            }
        }
        r.getWorkloadEntry().getPortsMap().values().forEach(p -> numbers.add((long) p));
        if (r.getGateway().getHbonePort() != 0) {
            numbers.add((long) r.getGateway().getHbonePort());
        }
        if (r.getWorkloadEntry().getWeight() != 0) {
            numbers.add(Integer.toUnsignedLong(r.getWorkloadEntry().getWeight()));
        }
        for (long n : numbers) {
            assertThat(written).as("%s: %d is written in the manifest", key, n).contains(BigInteger.valueOf(n));
        }
    }

    private static final Pattern OUT_OF_RANGE = Pattern.compile("(-?\\d+) is out of range \\(expected: .+\\)");

    private static void checkRejected(ParsedObject o, Set<BigInteger> written) {
        assertThat(o.record()).isNull();
        assertThat(o.errors()).as("a rejection says why").isNotEmpty();
        for (Problems.FieldError e : o.errors()) {
            assertThat(e.message()).as("message of %s", e).isNotBlank();
            if (e.path().isEmpty()) {
                assertThat(e.message()).as("a document-level problem")
                        .matches("(?s)(invalid YAML: |expected a mapping, got ).+");
                continue;
            }
            String first = e.path().split("[.\\[]", 2)[0];
            assertThat(TOP_LEVEL.contains(first) || e.message().equals("unknown field"))
                    .as("the field of %s", e).isTrue();
            Matcher m = OUT_OF_RANGE.matcher(e.message());
            if (m.matches()) {
                assertThat(written).as("%s: the value is the one written", e).contains(new BigInteger(m.group(1)));
            }
        }
    }

    /** Accepted objects are what discovery serves: building the mesh state from them must not fail. */
    private static Void translate(List<ParsedObject> read) {
        TreeMap<ConfigKey, ConfigRecord> records = new TreeMap<>();
        for (ParsedObject o : read) {
            if (o.accepted()) {
                records.put(o.key(), o.record());
            }
        }
        new MeshStateBuilder(SETTINGS).build(new ConfigSnapshot(records, Map.of(0, 1L)),
                skipped -> assertThat(skipped.reason()).as("why %s was skipped", skipped.key()).isNotBlank());
        return null;
    }

    // YAML 1.1 integers as Jackson reads them: decimal, 0x hex, 0b binary, leading-0 octal, '_' separators
    private static final Pattern INTEGER = Pattern.compile(
            "(?<![\\w.:/])([-+]?)(0x[0-9a-fA-F_]+|0b[01_]+|0[0-7_]+|[0-9][0-9_]*)(?![\\w.:/])");

    /** The value of every integer literal in {@code text} (generous: a digit run is a literal wherever it is). */
    static Set<BigInteger> integerLiterals(String text) {
        Set<BigInteger> out = new HashSet<>();
        Matcher m = INTEGER.matcher(text);
        while (m.find()) {
            String digits = m.group(2).replace("_", "");
            BigInteger v;
            if (digits.startsWith("0x") && digits.length() > 2) {
                v = new BigInteger(digits.substring(2), 16);
            } else if (digits.startsWith("0b") && digits.length() > 2) {
                v = new BigInteger(digits.substring(2), 2);
            } else if (digits.length() > 1 && digits.startsWith("0") && digits.matches("[0-7]+")) {
                out.add(new BigInteger(digits)); // "010" quoted is the text 10, unquoted octal 8
                v = new BigInteger(digits, 8);
            } else if (digits.matches("[0-9]+")) {
                v = new BigInteger(digits);
            } else {
                continue;
            }
            out.add(m.group(1).equals("-") ? v.negate() : v);
        }
        return out;
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
