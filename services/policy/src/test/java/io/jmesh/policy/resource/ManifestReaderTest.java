package io.jmesh.policy.resource;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.proto.config.v1.AuthorizationPolicySpec;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.config.v1.GatewayClassSpec;
import io.jmesh.proto.config.v1.GatewaySpec;
import io.jmesh.proto.config.v1.PeerAuthenticationSpec;
import io.jmesh.proto.config.v1.WorkloadEntrySpec;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ManifestReaderTest {

    final ManifestReader reader = new ManifestReader("istio-system");

    ParsedObject one(String yaml) {
        List<ParsedObject> all = reader.read(yaml);
        assertThat(all).hasSize(1);
        return all.get(0);
    }

    @Test
    void workloadEntryWithNodeServiceAccountLabelsAndPorts() {
        ParsedObject o = one("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: vm-1, namespace: shop, labels: {app: reviews}}
                spec:
                  address: 127.0.10.5
                  ports: {http: 9080}
                  labels: {version: v1}
                  network: net-a
                  locality: eu/west/a
                  weight: 3
                  serviceAccount: reviews
                  node: node-a
                """);
        assertThat(o.errors()).isEmpty();
        WorkloadEntrySpec spec = o.record().getWorkloadEntry();
        assertThat(spec.getAddress()).isEqualTo("127.0.10.5");
        assertThat(spec.getPortsMap()).containsEntry("http", 9080);
        assertThat(spec.getNode()).isEqualTo("node-a");
        assertThat(spec.getServiceAccount()).isEqualTo("reviews");
        assertThat(o.record().getMetadata().getLabelsMap()).containsEntry("app", "reviews");
        assertThat(o.record().getMetadata().getUid()).isNotEmpty();
        assertThat(o.key().toString()).isEqualTo("WorkloadEntry/shop/vm-1");
    }

    @Test
    void serviceWithNamedAndNumberedTargetPorts() {
        ParsedObject o = one("""
                apiVersion: v1
                kind: Service
                metadata: {name: reviews}
                spec:
                  selector: {app: reviews}
                  clusterIP: 10.96.0.10
                  ports:
                  - {name: http, port: 80, targetPort: http}
                  - {name: grpc, port: 9090, targetPort: 19090, appProtocol: grpc}
                  sessionAffinity: None
                """);
        assertThat(o.errors()).isEmpty();
        assertThat(o.namespace()).isEqualTo("default");
        var spec = o.record().getService();
        assertThat(spec.getClusterIpsList()).containsExactly("10.96.0.10");
        assertThat(spec.getPorts(0).getTargetPortName()).isEqualTo("http");
        assertThat(spec.getPorts(1).getTargetPortNumber()).isEqualTo(19090);
        assertThat(spec.getSelectorMap()).containsEntry("app", "reviews");
    }

    @Test
    void authorizationPolicyAllFieldsAndNoWarningsWhenL4Only() {
        ParsedObject o = one("""
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
                        ipBlocks: [10.0.0.0/8]
                    to:
                    - operation: {ports: ["9080"]}
                    when:
                    - {key: source.ip, notValues: [10.9.0.0/16]}
                """);
        assertThat(o.errors()).isEmpty();
        assertThat(o.warnings()).isEmpty();
        AuthorizationPolicySpec spec = o.record().getAuthorizationPolicy();
        assertThat(spec.getRules(0).getFrom(0).getSource().getPrincipalsList()).hasSize(2);
        assertThat(spec.getRules(0).getTo(0).getOperation().getPortsList()).containsExactly("9080");
    }

    @Test
    void serviceAccountsAreAcceptedInBothFormsAlone() {
        // Istio 1.24+: `name` (the policy's namespace) or `namespace/name`; with ipBlocks or requestPrincipals
        // allowed, never with principals or namespaces
        ParsedObject o = one("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: allow-sleep, namespace: shop}
                spec:
                  rules:
                  - from:
                    - source: {serviceAccounts: [sleep, other/curl], ipBlocks: [10.0.0.0/8]}
                    - source: {notServiceAccounts: [shop/legacy]}
                  - when: [{key: source.serviceAccount, values: [shop/sleep]}]
                """);
        assertThat(o.errors()).isEmpty();
        assertThat(o.warnings()).containsExactly("spec.rules[1] dropped: ztunnel cannot enforce spec.rules[1].when[0]"
                + " (source.serviceAccount) (L7) in an ALLOW policy, so the rule never matches there");
        AuthorizationPolicySpec spec = o.record().getAuthorizationPolicy();
        assertThat(spec.getRules(0).getFrom(0).getSource().getServiceAccountsList()).as("kept as written")
                .containsExactly("sleep", "other/curl");
        assertThat(spec.getRules(0).getFrom(1).getSource().getNotServiceAccountsList()).containsExactly("shop/legacy");
    }

    @Test
    void l7InAnAllowRuleDropsTheRuleWithAWarning() {
        ParsedObject o = one("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: get-only, namespace: shop}
                spec:
                  rules:
                  - to: [{operation: {methods: [GET]}}]
                  - from: [{source: {namespaces: [shop]}}]
                """);
        assertThat(o.accepted()).isTrue();
        assertThat(o.warnings()).containsExactly("spec.rules[0] dropped: ztunnel cannot enforce"
                + " spec.rules[0].to[0].operation.methods (L7) in an ALLOW policy, so the rule never matches there");
    }

    @Test
    void l7InADenyRuleKeepsTheL4PartWithAWarning() {
        ParsedObject o = one("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-post, namespace: shop}
                spec:
                  action: DENY
                  rules:
                  - to: [{operation: {methods: [POST], ports: ["8080"]}}]
                    when: [{key: "request.headers[x-user]", values: [bob]}]
                """);
        assertThat(o.accepted()).isTrue();
        assertThat(o.warnings()).containsExactly("spec.rules[0]: ztunnel ignores spec.rules[0].to[0].operation.methods,"
                + " spec.rules[0].when[0] (request.headers[x-user]) (L7) and denies on the L4 part of the rule only");
    }

    @Test
    void auditAndCustomAreAcceptedButNotForZtunnel() {
        ParsedObject o = one("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: ext, namespace: shop}
                spec:
                  action: CUSTOM
                  provider: {name: opa}
                  rules:
                  - to: [{operation: {paths: [/admin]}}]
                  - from: [{source: {ipBlocks: [10.0.0.0/8]}}]
                    when: [{key: source.ip, values: [10.1.0.0/16]}]
                """);
        assertThat(o.accepted()).as(o.describe()).isTrue();
        assertThat(o.warnings()).containsExactly(
                "ztunnel does not support the CUSTOM action; only waypoints enforce this policy");
    }

    @Test
    void peerAuthenticationWithPortOverrides() {
        ParsedObject o = one("""
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: strict-db, namespace: shop}
                spec:
                  selector: {matchLabels: {app: db}}
                  mtls: {mode: STRICT}
                  portLevelMtls:
                    "9100": {mode: PERMISSIVE}
                """);
        assertThat(o.errors()).isEmpty();
        PeerAuthenticationSpec spec = o.record().getPeerAuthentication();
        assertThat(spec.getMtls().getMode()).isEqualTo(PeerAuthenticationSpec.Mode.STRICT);
        assertThat(spec.getPortLevelMtlsMap().get(9100).getMode()).isEqualTo(PeerAuthenticationSpec.Mode.PERMISSIVE);
    }

    @Test
    void severalDocumentsAreJudgedEachOnItsOwn() {
        List<ParsedObject> all = reader.read("""
                apiVersion: v1
                kind: Namespace
                metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: BAD}
                spec: {ports: [{port: 80}]}
                ---
                """);
        assertThat(all).hasSize(2);
        assertThat(all.get(0).accepted()).isTrue();
        assertThat(all.get(0).record().getKind()).isEqualTo("Namespace");
        assertThat(all.get(1).accepted()).isFalse();
        assertThat(all.get(1).documentIndex()).isEqualTo(1);
    }

    @Test
    void reapplyingTheSameManifestYieldsAnIdenticalRecord() {
        String yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80}]}\n";
        ConfigRecord first = one(yaml).record();
        assertThat(one(yaml).record()).isEqualTo(first);
    }

    @Test
    void serviceTrafficSettingsAreKeptForTranslation() {
        ParsedObject o = one("""
                apiVersion: v1
                kind: Service
                metadata:
                  name: reviews
                  annotations: {networking.istio.io/traffic-distribution: prefersamenode}
                spec:
                  ports: [{port: 80}]
                  trafficDistribution: PreferSameNode
                  internalTrafficPolicy: Cluster
                  publishNotReadyAddresses: true
                """);
        assertThat(o.errors()).isEmpty();
        assertThat(o.warnings()).as("annotation agrees with the field (any case)").isEmpty();
        var spec = o.record().getService();
        assertThat(spec.getTrafficDistribution()).isEqualTo("PreferSameNode");
        assertThat(spec.getInternalTrafficPolicy()).isEqualTo("Cluster");
        assertThat(spec.getPublishNotReadyAddresses()).isTrue();
    }

    @Test
    void trafficSettingsThatLoseToAnotherAreAcceptedWithAWarning() {
        ParsedObject field = one("""
                apiVersion: v1
                kind: Service
                metadata:
                  name: reviews
                  annotations: {networking.istio.io/traffic-distribution: PreferSameNode}
                spec: {ports: [{port: 80}], trafficDistribution: PreferClose}
                """);
        assertThat(field.accepted()).isTrue();
        assertThat(field.warnings()).containsExactly("annotation networking.istio.io/traffic-distribution"
                + " 'PreferSameNode' is ignored: spec.trafficDistribution 'PreferClose' takes precedence");
        ParsedObject local = one("""
                apiVersion: v1
                kind: Service
                metadata: {name: reviews}
                spec: {ports: [{port: 80}], trafficDistribution: PreferSameZone, internalTrafficPolicy: Local}
                """);
        assertThat(local.accepted()).isTrue();
        assertThat(local.warnings()).containsExactly("spec.trafficDistribution 'PreferSameZone' is ignored:"
                + " internalTrafficPolicy Local keeps traffic on the client's node (STRICT)");
    }

    @Test
    void workloadEntryLocalityWinsOverTopologyLabelsWithAWarning() {
        ParsedObject o = one("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: vm-1}
                spec:
                  address: 10.0.0.1
                  locality: eu/west
                  labels: {topology.kubernetes.io/region: eu, topology.kubernetes.io/zone: east}
                """);
        assertThat(o.accepted()).isTrue();
        assertThat(o.warnings()).containsExactly("spec.labels topology (eu/east/) is ignored: spec.locality"
                + " 'eu/west' takes precedence");
        ParsedObject same = one("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: vm-1}
                spec:
                  address: 10.0.0.1
                  locality: eu/west
                  labels: {topology.kubernetes.io/region: eu, topology.kubernetes.io/zone: west}
                """);
        assertThat(same.warnings()).isEmpty();
    }

    @Test
    void gatewayAndGatewayClassKeepTheClassAndTheInboundBinding() {
        List<ParsedObject> all = reader.read("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: GatewayClass
                metadata:
                  name: sandwiched.example.com
                  annotations: {ambient.istio.io/waypoint-inbound-binding: PROXY/15088}
                spec:
                  controllerName: example.com/gateway-controller
                  description: waypoints behind ztunnel
                  parametersRef: {group: "", kind: ConfigMap, name: params, namespace: infra}
                ---
                apiVersion: gateway.networking.k8s.io/v1beta1
                kind: Gateway
                metadata:
                  name: waypoint
                  namespace: shop
                  annotations: {ambient.istio.io/waypoint-inbound-binding: PROXY}
                spec:
                  gatewayClassName: sandwiched.example.com
                  listeners: [{name: proxy, port: 15088, protocol: PROXY}]
                status: {addresses: [{type: IPAddress, value: 10.96.0.99}]}
                """);
        assertThat(all).allSatisfy(o -> {
            assertThat(o.errors()).as(o.describe()).isEmpty();
            assertThat(o.warnings()).as(o.describe()).isEmpty();
        });
        ConfigRecord gatewayClass = all.get(0).record();
        assertThat(all.get(0).key().toString()).as("cluster-scoped").isEqualTo("GatewayClass//sandwiched.example.com");
        assertThat(gatewayClass.getGatewayClass()).isEqualTo(GatewayClassSpec.newBuilder()
                .setControllerName("example.com/gateway-controller").build());
        assertThat(gatewayClass.getMetadata().getAnnotationsMap())
                .containsEntry("ambient.istio.io/waypoint-inbound-binding", "PROXY/15088");
        ConfigRecord gateway = all.get(1).record();
        assertThat(all.get(1).key().toString()).isEqualTo("Gateway/shop/waypoint");
        assertThat(gateway.getGateway()).as("no HBONE listener, status not read").isEqualTo(GatewaySpec.newBuilder()
                .setGatewayClassName("sandwiched.example.com").build());
    }

    static final String EAST_WEST = """
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
            """;

    @Test
    void anEastWestGatewayKeepsItsAddressesAndHbonePort() {
        ParsedObject o = one(EAST_WEST);
        assertThat(o.errors()).isEmpty();
        assertThat(o.warnings()).isEmpty();
        assertThat(o.record().getGateway()).isEqualTo(GatewaySpec.newBuilder().setGatewayClassName("istio-east-west")
                .addAddresses("192.0.2.10").addAddresses("fd00::10").setHbonePort(15008).build());
        assertThat(o.record().getMetadata().getLabelsMap()).containsEntry("topology.istio.io/network", "net-b");
    }

    @Test
    void anyGatewayMayHaveOtherAddressTypesAndNoHboneListener() {
        ParsedObject o = one("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: ingress, namespace: shop}
                spec:
                  gatewayClassName: istio
                  listeners:
                  - {name: https, port: 443, protocol: HTTPS, hostname: "*.example.com", allowedRoutes: {}}
                  - {name: mesh, port: 15009, protocol: HBONE}
                  - {name: mesh-2, port: 15010, protocol: HBONE}
                  addresses: [{type: Hostname, value: ingress.example.com}, {type: IPAddress, value: 192.0.2.20}]
                """);
        assertThat(o.errors()).isEmpty();
        assertThat(o.record().getGateway().getAddressesList()).as("IP addresses only").containsExactly("192.0.2.20");
        assertThat(o.record().getGateway().getHbonePort()).as("the first HBONE listener").isEqualTo(15009);
    }

    static Stream<Arguments> invalidEastWest() {
        String listeners = "  listeners:\n  - name: mesh\n    port: 15008\n    protocol: HBONE\n";
        String addresses = "  addresses: [{type: IPAddress, value: 192.0.2.10}]\n";
        String needs = "a network gateway (label topology.istio.io/network) needs ";
        return Stream.of(
                bad(EAST_WEST.replace("protocol: HBONE", "protocol: TLS"), "spec.listeners",
                        needs + "a listener with protocol HBONE"),
                bad(eastWest(addresses), "spec.listeners", needs + "a listener with protocol HBONE"),
                bad(eastWest(listeners), "spec.addresses",
                        needs + "an address of type IPAddress (jmesh takes it from the spec, not the status)"),
                bad(eastWest(listeners + "  addresses: []\n"), "spec.addresses",
                        needs + "an address of type IPAddress (jmesh takes it from the spec, not the status)"),
                bad(eastWest(listeners + addresses.replace("type: IPAddress, value: 192.0.2.10",
                        "type: Hostname, value: ew.example.com")), "spec.addresses[0].type",
                        "'Hostname' cannot address a network gateway (expected: IPAddress)"),
                bad(EAST_WEST.replace("192.0.2.10", "10.0.0.300"), "spec.addresses[0].value",
                        "'10.0.0.300' is not an IP address"),
                bad(EAST_WEST.replace("192.0.2.10", "ew.example.com"), "spec.addresses[0].value",
                        "'ew.example.com' is not an IP address"),
                bad(EAST_WEST.replace("{value: \"fd00::10\"}", "{type: IPAddress}"), "spec.addresses[1].value",
                        "required"),
                bad(EAST_WEST.replace("{value: \"fd00::10\"}", "{value: 10.0.0.1, port: 1}"),
                        "spec.addresses[1].port", "unknown field"),
                bad(EAST_WEST.replace("port: 15008", "port: 70000"), "spec.listeners[0].port",
                        "70000 is out of range (expected: 1-65535)"),
                bad(EAST_WEST.replace("port: 15008", "port: 0"), "spec.listeners[0].port",
                        "0 is out of range (expected: 1-65535)"),
                bad(EAST_WEST.replace("port: 15008", "port: mesh"), "spec.listeners[0].port",
                        "expected an integer, got 'mesh'"),
                bad(EAST_WEST.replace("    port: 15008\n", ""), "spec.listeners[0].port", "required"),
                bad(eastWest(listeners + "  - {name: other, port: 80, protocol: [HTTP]}\n" + addresses),
                        "spec.listeners[1].protocol", "expected a string, got a list"),
                bad(eastWest(listeners + "  - {name: other, port: 80}\n" + addresses),
                        "spec.listeners[1].protocol", "required"),
                bad(EAST_WEST.replace("- name: mesh", "- name: Mesh"), "spec.listeners[0].name",
                        "'Mesh' is not a DNS-1123 subdomain (lowercase letters, digits, '-', '.')"),
                bad(EAST_WEST.replace("    tls:", "    tsl:"), "spec.listeners[0].tsl", "unknown field"),
                // the shape of listeners is checked on every Gateway
                bad(eastWest("  listeners: [mesh]\n").replace(NETWORK_LABEL, ""), "spec.listeners[0]",
                        "expected a mapping, got 'mesh'"),
                bad(eastWest("  listeners: {mesh: 15008}\n").replace(NETWORK_LABEL, ""), "spec.listeners",
                        "expected a list, got a mapping"),
                bad(eastWest("  addresses: [192.0.2.10]\n").replace(NETWORK_LABEL, ""), "spec.addresses[0]",
                        "expected a mapping, got '192.0.2.10'"),
                bad(EAST_WEST.replace("topology.istio.io/network: net-b", "topology.istio.io/network: ''"),
                        "metadata.labels.topology.istio.io/network",
                        "must name a network (empty is the default network, which has no gateway)"));
    }

    /** Each mistake in an east-west gateway is reported once, at its field, and nothing else is. */
    @ParameterizedTest(name = "{1}: {2}")
    @MethodSource("invalidEastWest")
    void invalidEastWestGatewaysAreRejectedWithTheFieldPath(String yaml, String path, String message) {
        ParsedObject o = one(yaml);
        assertThat(o.record()).isNull();
        assertThat(o.errors()).containsExactly(new Problems.FieldError(path, message));
    }

    @Test
    void aBadAddressIsAnErrorOnAnyGateway() {
        ParsedObject o = one(EAST_WEST.replace(NETWORK_LABEL, "")
                .replace("fd00::10", "fd00::g"));
        assertThat(o.errors()).containsExactly(new Problems.FieldError("spec.addresses[1].value",
                "'fd00::g' is not an IP address"));
    }

    static final String NETWORK_LABEL = "  labels: {topology.istio.io/network: net-b}\n";

    private static String eastWest(String listenersAndAddresses) {
        return "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: ew\n"
                + "  namespace: istio-system\n" + NETWORK_LABEL
                + "spec:\n  gatewayClassName: istio-east-west\n" + listenersAndAddresses;
    }

    @Test
    void aPortWithNoneIsAcceptedWithAWarning() {
        ParsedObject o = one(gateway("NONE/15088", "{gatewayClassName: istio-waypoint}"));
        assertThat(o.accepted()).isTrue();
        assertThat(o.warnings()).containsExactly("metadata.annotations.ambient.istio.io/waypoint-inbound-binding:"
                + " the port of 'NONE/15088' has no effect: NONE sets no application tunnel");
    }

    static Stream<Arguments> invalid() {
        return Stream.of(
                bad("kind: Service\nmetadata: {name: a}\nspec: {}", "apiVersion", "required"),
                bad("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}", "kind",
                        "unsupported kind 'ConfigMap' (expected one of [AuthorizationPolicy, EndpointSlice, Gateway,"
                                + " GatewayClass, Namespace, Node, PeerAuthentication, Pod, Service, ServiceEntry,"
                                + " WorkloadEntry])"),
                bad("apiVersion: security.istio.io/v1\nkind: Service\nmetadata: {name: a}\nspec: {}", "apiVersion",
                        "'security.istio.io/v1' does not serve Service (expected one of [v1])"),
                bad("apiVersion: v1\nkind: Service\nmetadata: {name: Upper}\nspec: {}", "metadata.name",
                        "'Upper' is not a DNS-1123 subdomain (lowercase letters, digits, '-', '.')"),
                bad("apiVersion: v1\nkind: Service\nmetadata: {namespace: x}\nspec: {}", "metadata.name", "required"),
                bad("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {potrs: []}", "spec.potrs",
                        "unknown field"),
                bad("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80}, {port: 81}]}",
                        "spec.ports[0].name", "required when a service has more than one port"),
                bad("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 70000}]}",
                        "spec.ports[0].port", "70000 is out of range (expected: 1-65535)"),
                bad("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: 10.0.0.300, ports: []}",
                        "spec.clusterIPs[0]", "'10.0.0.300' is not an IP address"),
                bad("apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: a}\nspec: {}",
                        "spec.address", "required"),
                bad("apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: a}\n"
                        + "spec: {address: vm.example.com}", "spec.address", "'vm.example.com' is not an IP address"),
                bad("apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: a}\n"
                        + "spec: {address: 10.0.0.1, labels: {app: 'a b'}}", "spec.labels.app",
                        "invalid label value 'a b' (expected: at most 63 alphanumerics, '-', '_', '.', starting and"
                                + " ending alphanumeric)"),
                bad(ap("{rules: [{from: [{source: {principals: ['a*b']}}]}]}"),
                        "spec.rules[0].from[0].source.principals[0]", "'a*b': '*' is only allowed at the start or"
                                + " the end"),
                bad(ap("{rules: [{from: [{source: {ipBlocks: [10.0.0.0/33]}}]}]}"),
                        "spec.rules[0].from[0].source.ipBlocks[0]",
                        "'10.0.0.0/33' has an invalid prefix length (expected: 0-32)"),
                bad(ap("{rules: [{from: [{source: {}}]}]}"), "spec.rules[0].from[0].source",
                        "must not be empty (set at least one field)"),
                bad(ap("{rules: [{from: [{}]}]}"), "spec.rules[0].from[0].source", "required"),
                bad(ap("{rules: [{from: [{source: {serviceAccounts: [sleep], principals: [a]}}]}]}"),
                        "spec.rules[0].from[0].source.serviceAccounts", SA_WITH_IDENTITIES + " (found: principals)"),
                bad(ap("{rules: [{from: [{source: {notServiceAccounts: [sleep], notNamespaces: [a]}}]}]}"),
                        "spec.rules[0].from[0].source.notServiceAccounts",
                        SA_WITH_IDENTITIES + " (found: notNamespaces)"),
                bad(ap("{rules: [{from: [{source: {serviceAccounts: [sleep, '*']}}]}]}"),
                        "spec.rules[0].from[0].source.serviceAccounts[1]", "'*': wildcards are not allowed" + SA_FORM),
                bad(ap("{rules: [{from: [{source: {notServiceAccounts: ['shop/sleep-*']}}]}]}"),
                        "spec.rules[0].from[0].source.notServiceAccounts[0]",
                        "'shop/sleep-*': wildcards are not allowed" + SA_FORM),
                bad(ap("{rules: [{from: [{source: {serviceAccounts: [a/b/c]}}]}]}"),
                        "spec.rules[0].from[0].source.serviceAccounts[0]", "'a/b/c' has more than one '/'" + SA_FORM),
                bad(ap("{rules: [{from: [{source: {serviceAccounts: [/sleep]}}]}]}"),
                        "spec.rules[0].from[0].source.serviceAccounts[0]", "'/sleep' has an empty namespace" + SA_FORM),
                bad(ap("{rules: [{from: [{source: {serviceAccounts: [shop/]}}]}]}"),
                        "spec.rules[0].from[0].source.serviceAccounts[0]",
                        "'shop/' has an empty service account" + SA_FORM),
                bad(ap("{rules: [{from: [{source: {serviceAccounts: ['']}}]}]}"),
                        "spec.rules[0].from[0].source.serviceAccounts[0]", "must not be empty" + SA_FORM),
                bad(ap("{rules: [{from: [{source: {serviceAccounts: [" + "a,".repeat(16) + "a]}}]}]}"),
                        "spec.rules[0].from[0].source.serviceAccounts", "17 values (expected: at most 16)"),
                bad(ap("{rules: [{from: [{source: {serviceAccounts: [shop/" + "a".repeat(316) + "]}}]}]}"),
                        "spec.rules[0].from[0].source.serviceAccounts[0]",
                        "321 characters long (expected: at most 320)"),
                bad(ap("{action: CUSTOM, provider: {name: x}, rules: [{from: [{source: {serviceAccounts: [a]}}]}]}"),
                        "spec.rules[0].from[0].source.serviceAccounts", "not supported with action CUSTOM"),
                bad(ap("{action: CUSTOM, provider: {name: x}, rules: [{from: [{source: {namespaces: [a]}}]}]}"),
                        "spec.rules[0].from[0].source.namespaces", "not supported with action CUSTOM"),
                bad(ap("{action: CUSTOM, provider: {name: x}, rules: [{from: [{source: {notPrincipals: [a]}}]}]}"),
                        "spec.rules[0].from[0].source.notPrincipals", "not supported with action CUSTOM"),
                bad(ap("{action: CUSTOM, provider: {name: x}, rules: [{from: [{source: {requestPrincipals: [a]}}]}]}"),
                        "spec.rules[0].from[0].source.requestPrincipals", "not supported with action CUSTOM"),
                bad(ap("{action: CUSTOM, provider: {name: x}, rules: [{when: [{key: source.principal, values: [a]}]}]}"),
                        "spec.rules[0].when[0].key", "'source.principal' not supported with action CUSTOM"),
                bad(ap("{action: CUSTOM, provider: {name: x}, rules: [{when: [{key: request.auth.audiences, values: [a]}]}]}"),
                        "spec.rules[0].when[0].key", "'request.auth.audiences' not supported with action CUSTOM"),
                bad(ap("{rules: [{when: [{key: source.serviceAccount, notValues: ['shop/*']}]}]}"),
                        "spec.rules[0].when[0].notValues[0]", "'shop/*': wildcards are not allowed" + SA_FORM),
                bad(ap("{rules: [{to: [{operation: {ports: ['http']}}]}]}"), "spec.rules[0].to[0].operation.ports[0]",
                        "'http' is not a port number (expected: 0-65535)"),
                bad(ap("{rules: [{when: [{key: source.ip}]}]}"), "spec.rules[0].when[0]",
                        "at least one of values or notValues must be set"),
                bad(ap("{rules: [{when: [{key: source.color, values: [red]}]}]}"), "spec.rules[0].when[0].key",
                        "unknown attribute 'source.color'"),
                bad(ap("{rules: [{when: [{key: destination.port, values: ['x']}]}]}"),
                        "spec.rules[0].when[0].values[0]", "'x' is not a port number (expected: 0-65535)"),
                bad(ap("{action: CUSTOM, rules: [{}]}"), "spec.provider", "required with action CUSTOM"),
                bad(ap("{action: DENY, provider: {name: x}}"), "spec.provider", "only allowed with action CUSTOM"),
                bad(ap("{action: MAYBE}"), "spec.action", "'MAYBE' (expected: ALLOW, DENY, AUDIT or CUSTOM)"),
                bad(ap("{selector: {matchLabels: {app: a}}, targetRefs: [{kind: Service, name: a}]}"),
                        "spec.targetRefs", "only one of selector or targetRefs can be set"),
                bad(pa("{mtls: {mode: SOMETIMES}}"), "spec.mtls.mode",
                        "'SOMETIMES' (expected: UNSET, DISABLE, PERMISSIVE or STRICT)"),
                bad(pa("{portLevelMtls: {'8080': {mode: STRICT}}}"), "spec.portLevelMtls",
                        "requires a workload selector (Istio applies port-level mTLS only to selected workloads)"),
                bad(pa("{selector: {matchLabels: {a: b}}, portLevelMtls: {'0': {mode: STRICT}}}"),
                        "spec.portLevelMtls.0", "'0' is not a port number (expected: 1-65535)"),
                bad("apiVersion: v1\nkind: Namespace\nmetadata: {name: a, namespace: b}", "metadata.namespace",
                        "Namespace is cluster-scoped (expected: no namespace)"),
                bad("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80}]}\nspec2: 1",
                        "spec2", "unknown field"),
                bad("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {trafficDistribution: PreferFar}",
                        "spec.trafficDistribution", "'PreferFar' (expected: PreferSameZone, PreferClose or"
                                + " PreferSameNode)"),
                bad("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {trafficDistribution: preferclose}",
                        "spec.trafficDistribution", "'preferclose' (expected: PreferSameZone, PreferClose or"
                                + " PreferSameNode)"),
                bad("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {internalTrafficPolicy: Node}",
                        "spec.internalTrafficPolicy", "'Node' (expected: Cluster or Local)"),
                bad("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {publishNotReadyAddresses: 'yes'}",
                        "spec.publishNotReadyAddresses", "expected a boolean, got 'yes'"),
                bad("apiVersion: v1\nkind: Service\nmetadata: {name: a, annotations:"
                        + " {networking.istio.io/traffic-distribution: Nearby}}\nspec: {}",
                        "metadata.annotations.networking.istio.io/traffic-distribution", "'Nearby' (expected:"
                                + " PreferSameZone, PreferClose or PreferSameNode, in any case)"),
                bad("apiVersion: v1\nkind: Namespace\nmetadata: {name: a, annotations:"
                        + " {networking.istio.io/traffic-distribution: PreferSameRack}}",
                        "metadata.annotations.networking.istio.io/traffic-distribution", "'PreferSameRack' (expected:"
                                + " PreferSameZone, PreferClose or PreferSameNode, in any case)"),
                bad("apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: a}\n"
                        + "spec: {address: 10.0.0.1, locality: a/b/c/d}", "spec.locality",
                        "'a/b/c/d' has more than 3 parts (expected: region/zone/subzone)"),
                bad(gateway("PROXY/abc"), BINDING, "'PROXY/abc': port 'abc' is not a number (expected: 1-65535)"),
                bad(gateway("PROXY/0"), BINDING, "'PROXY/0': port 0 is out of range (expected: 1-65535)"),
                bad(gatewayClass("PROXY/70000"), BINDING,
                        "'PROXY/70000': port 70000 is out of range (expected: 1-65535)"),
                bad(gateway("PROXY/99999999999"), BINDING,
                        "'PROXY/99999999999': port 99999999999 is out of range (expected: 1-65535)"),
                bad(gatewayClass("HTTP/15088"), BINDING,
                        "'HTTP/15088': unknown protocol 'HTTP' (expected: NONE or PROXY)"),
                bad(gateway("proxy/15088"), BINDING,
                        "'proxy/15088': unknown protocol 'proxy' (expected: NONE or PROXY)"),
                bad(gateway("PROXY/1/2"), BINDING, "'PROXY/1/2' has more than one '/' (expected: <protocol> or"
                        + " <protocol>/<port>, e.g. PROXY/15088)"),
                bad(gatewayClass(""), BINDING, "must not be empty (expected: <protocol> or <protocol>/<port>,"
                        + " e.g. PROXY/15088)"),
                bad(gateway("PROXY/"), BINDING, "'PROXY/': port '' is not a number (expected: 1-65535)"),
                bad(gateway("PROXY/15088", "{}"), "spec.gatewayClassName", "required"),
                bad(gateway("PROXY/15088", "{gatewayClassName: Istio_Waypoint}"), "spec.gatewayClassName",
                        "'Istio_Waypoint' is not a DNS-1123 subdomain (lowercase letters, digits, '-', '.')"),
                bad(gateway("PROXY/15088", "{gatewayClassName: istio-waypoint, listners: []}"), "spec.listners",
                        "unknown field"),
                bad("apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: w}", "spec",
                        "required"),
                bad("apiVersion: gateway.networking.k8s.io/v1alpha2\nkind: Gateway\nmetadata: {name: w}\n"
                        + "spec: {gatewayClassName: c}", "apiVersion", "'gateway.networking.k8s.io/v1alpha2' does"
                        + " not serve Gateway (expected one of [gateway.networking.k8s.io/v1,"
                        + " gateway.networking.k8s.io/v1beta1])"),
                bad("apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: c}\n"
                        + "spec: {description: no controller}", "spec.controllerName", "required"),
                bad("apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: c}\n"
                        + "spec: {controllerName: ''}", "spec.controllerName", "must not be empty"),
                bad("apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\n"
                        + "metadata: {name: c, namespace: shop}\nspec: {controllerName: example.com/gc}",
                        "metadata.namespace", "GatewayClass is cluster-scoped (expected: no namespace)"),
                bad("key: [unclosed", "", null));
    }

    @ParameterizedTest(name = "{1}: {2}")
    @MethodSource("invalid")
    void invalidDocumentsAreRejectedWholeWithTheFieldPath(String yaml, String path, String message) {
        ParsedObject o = one(yaml);
        assertThat(o.accepted()).isFalse();
        assertThat(o.record()).isNull();
        if (message == null) {
            assertThat(o.errors()).singleElement().satisfies(e -> {
                assertThat(e.path()).isEmpty();
                assertThat(e.message()).startsWith("invalid YAML: ");
            });
        } else {
            assertThat(o.errors()).contains(new Problems.FieldError(path, message));
        }
    }

    static final String SA_WITH_IDENTITIES = "cannot be set together with principals, notPrincipals, namespaces or"
            + " notNamespaces in the same source";
    static final String SA_FORM = " (expected: <serviceAccount> or <namespace>/<serviceAccount>)";

    private static String ap(String spec) {
        return "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: ns}\n"
                + "spec: " + spec + "\n";
    }

    private static String pa(String spec) {
        return "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p, namespace: ns}\n"
                + "spec: " + spec + "\n";
    }

    static final String BINDING = "metadata.annotations.ambient.istio.io/waypoint-inbound-binding";

    private static String gateway(String binding, String spec) {
        return "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: waypoint\n"
                + "  namespace: shop\n  annotations: {ambient.istio.io/waypoint-inbound-binding: '" + binding + "'}\n"
                + "spec: " + spec + "\n";
    }

    private static String gateway(String binding) {
        return gateway(binding, "{gatewayClassName: istio-waypoint}");
    }

    private static String gatewayClass(String binding) {
        return "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata:\n  name: sandwiched\n"
                + "  annotations: {ambient.istio.io/waypoint-inbound-binding: '" + binding + "'}\n"
                + "spec: {controllerName: example.com/gateway-controller}\n";
    }

    private static Arguments bad(String yaml, String path, String message) {
        return Arguments.of(yaml, path, message);
    }
}
