package io.jmesh.proto;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Timestamp;
import com.google.protobuf.util.JsonFormat;
import io.jmesh.proto.config.v1.AuthorizationPolicySpec;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.config.v1.NamespaceSpec;
import io.jmesh.proto.config.v1.ObjectMeta;
import io.jmesh.proto.config.v1.PeerAuthenticationSpec;
import io.jmesh.proto.config.v1.ServiceSpec;
import io.jmesh.proto.config.v1.WorkloadEntrySpec;
import org.junit.jupiter.api.Test;

/**
 * The config specs mirror the YAML users write: proto3 JSON names (lowerCamelCase) of our fields are
 * the keys of Istio's and Kubernetes' YAML, so a manifest's `spec`, converted to JSON, parses as is.
 */
class ConfigSpecJsonTest {

    @Test
    void istioAuthorizationPolicySpecParses() throws Exception {
        String spec = """
                {
                  "selector": {"matchLabels": {"app": "httpbin"}},
                  "action": "DENY",
                  "rules": [{
                    "from": [{"source": {
                      "principals": ["cluster.local/ns/default/sa/sleep"],
                      "notNamespaces": ["prod"],
                      "requestPrincipals": ["issuer.example.com/*"],
                      "remoteIpBlocks": ["203.0.113.0/24"]
                    }}],
                    "to": [{"operation": {"methods": ["POST"], "ports": ["8080"], "notPaths": ["/admin*"]}}],
                    "when": [{"key": "source.ip", "values": ["10.0.0.0/8"], "notValues": ["10.0.0.1"]}]
                  }]
                }
                """;
        AuthorizationPolicySpec.Builder b = AuthorizationPolicySpec.newBuilder();
        JsonFormat.parser().merge(spec, b);
        AuthorizationPolicySpec p = b.build();

        assertThat(p.getSelector().getMatchLabelsMap()).containsEntry("app", "httpbin");
        assertThat(p.getAction()).isEqualTo(AuthorizationPolicySpec.Action.DENY);
        assertThat(p.getRules(0).getFrom(0).getSource().getPrincipalsList())
                .containsExactly("cluster.local/ns/default/sa/sleep");
        assertThat(p.getRules(0).getFrom(0).getSource().getNotNamespacesList()).containsExactly("prod");
        assertThat(p.getRules(0).getFrom(0).getSource().getRequestPrincipalsList()).containsExactly("issuer.example.com/*");
        assertThat(p.getRules(0).getFrom(0).getSource().getRemoteIpBlocksList()).containsExactly("203.0.113.0/24");
        assertThat(p.getRules(0).getTo(0).getOperation().getMethodsList()).containsExactly("POST");
        assertThat(p.getRules(0).getTo(0).getOperation().getPortsList()).containsExactly("8080");
        assertThat(p.getRules(0).getTo(0).getOperation().getNotPathsList()).containsExactly("/admin*");
        assertThat(p.getRules(0).getWhen(0).getKey()).isEqualTo("source.ip");
        assertThat(p.getRules(0).getWhen(0).getNotValuesList()).containsExactly("10.0.0.1");
    }

    @Test
    void waypointPolicyWithTargetRefsAndCustomProviderParses() throws Exception {
        String spec = """
                {
                  "targetRefs": [{"kind": "Service", "group": "", "name": "reviews"}],
                  "action": "CUSTOM",
                  "provider": {"name": "ext-authz"},
                  "rules": [{"to": [{"operation": {"paths": ["/admin/*"]}}]}]
                }
                """;
        AuthorizationPolicySpec.Builder b = AuthorizationPolicySpec.newBuilder();
        JsonFormat.parser().merge(spec, b);

        assertThat(b.getTargetRefs(0).getKind()).isEqualTo("Service");
        assertThat(b.getTargetRefs(0).getName()).isEqualTo("reviews");
        assertThat(b.getTargetRefs(0).hasNamespace()).isFalse();
        assertThat(b.getAction()).isEqualTo(AuthorizationPolicySpec.Action.CUSTOM);
        assertThat(b.getProvider().getName()).isEqualTo("ext-authz");
    }

    @Test
    void peerAuthenticationWithPortLevelOverrideParses() throws Exception {
        String spec = """
                {"selector": {"matchLabels": {"app": "db"}},
                 "mtls": {"mode": "STRICT"},
                 "portLevelMtls": {"9000": {"mode": "PERMISSIVE"}}}
                """;
        PeerAuthenticationSpec.Builder b = PeerAuthenticationSpec.newBuilder();
        JsonFormat.parser().merge(spec, b);

        assertThat(b.getMtls().getMode()).isEqualTo(PeerAuthenticationSpec.Mode.STRICT);
        assertThat(b.getPortLevelMtlsOrThrow(9000).getMode()).isEqualTo(PeerAuthenticationSpec.Mode.PERMISSIVE);
    }

    @Test
    void workloadEntrySpecParses() throws Exception {
        String spec = """
                {"address": "127.0.10.5", "ports": {"http": 8080}, "labels": {"app": "reviews", "version": "v2"},
                 "network": "local", "locality": "eu/west/a", "weight": 2, "serviceAccount": "reviews",
                 "node": "node-a", "health": "UNHEALTHY"}
                """;
        WorkloadEntrySpec.Builder b = WorkloadEntrySpec.newBuilder();
        JsonFormat.parser().merge(spec, b);

        assertThat(b.getAddress()).isEqualTo("127.0.10.5");
        assertThat(b.getPortsOrThrow("http")).isEqualTo(8080);
        assertThat(b.getServiceAccount()).isEqualTo("reviews");
        assertThat(b.getNode()).isEqualTo("node-a");
        assertThat(b.getHealth()).isEqualTo(WorkloadEntrySpec.Health.UNHEALTHY);
        assertThat(b.getWeight()).isEqualTo(2);
    }

    @Test
    void configRecordRoundTripsThroughJson() throws Exception {
        ConfigRecord record = ConfigRecord.newBuilder()
                .setSchemaVersion(1)
                .setKind("Service")
                .setMetadata(ObjectMeta.newBuilder()
                        .setName("reviews").setNamespace("default").setUid("3f1c").setGeneration(4)
                        .putLabels("istio.io/use-waypoint", "waypoint"))
                .setSource("file:/etc/jmesh/config/reviews.yaml")
                .setAppliedAt(Timestamp.newBuilder().setSeconds(1_717_236_000))
                .setService(ServiceSpec.newBuilder()
                        .putSelector("app", "reviews")
                        .addClusterIps("10.96.0.10")
                        .addPorts(io.jmesh.proto.config.v1.ServicePort.newBuilder()
                                .setName("http").setPort(9080).setTargetPortName("http").setAppProtocol("http")))
                .build();

        String json = JsonFormat.printer().print(record);
        ConfigRecord.Builder parsed = ConfigRecord.newBuilder();
        JsonFormat.parser().merge(json, parsed);

        assertThat(parsed.build()).isEqualTo(record);
        assertThat(json).contains("\"targetPortName\": \"http\"", "\"clusterIps\"", "\"appliedAt\": \"2024-06-01T10:00:00Z\"");
    }

    @Test
    void namespaceRecordKeepsItsEmptySpecCase() throws Exception {
        ConfigRecord record = ConfigRecord.newBuilder()
                .setSchemaVersion(1)
                .setKind("Namespace")
                .setMetadata(ObjectMeta.newBuilder().setName("default").putLabels("istio.io/dataplane-mode", "ambient"))
                .setNamespace(NamespaceSpec.getDefaultInstance())
                .build();

        ConfigRecord parsed = ConfigRecord.parseFrom(record.toByteArray());

        assertThat(parsed.getSpecCase()).isEqualTo(ConfigRecord.SpecCase.NAMESPACE);
        assertThat(parsed.getMetadata().getLabelsMap()).containsEntry("istio.io/dataplane-mode", "ambient");
    }
}
