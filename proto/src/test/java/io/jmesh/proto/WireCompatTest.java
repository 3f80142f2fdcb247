package io.jmesh.proto;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.Duration;
import com.google.protobuf.Empty;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Struct;
import com.google.protobuf.UInt32Value;
import com.google.protobuf.Value;
import io.jmesh.proto.envoy.config.core.v3.Locality;
import io.jmesh.proto.envoy.config.core.v3.Node;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.jmesh.proto.envoy.service.discovery.v3.Resource;
import io.jmesh.proto.google.rpc.Status;
import io.jmesh.proto.istio.security.Action;
import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.proto.istio.security.Clause;
import io.jmesh.proto.istio.security.Match;
import io.jmesh.proto.istio.security.Rule;
import io.jmesh.proto.istio.security.Scope;
import io.jmesh.proto.istio.security.ServiceAccountMatch;
import io.jmesh.proto.istio.security.StringMatch;
import io.jmesh.proto.istio.v1.auth.IstioCertificateRequest;
import io.jmesh.proto.istio.v1.auth.IstioCertificateResponse;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.AppProtocol;
import io.jmesh.proto.istio.workload.GatewayAddress;
import io.jmesh.proto.istio.workload.LoadBalancing;
import io.jmesh.proto.istio.workload.NetworkAddress;
import io.jmesh.proto.istio.workload.Port;
import io.jmesh.proto.istio.workload.PortList;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.TunnelProtocol;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.proto.istio.workload.WorkloadType;
import org.junit.jupiter.api.Test;

/**
 * Decodes bytes built by hand from the upstream field numbers (Istio, ztunnel, Envoy), then checks
 * that our generated classes encode to the same bytes. If a field number drifts, these fail.
 */
class WireCompatTest {

    private static final String SPIFFE_SLEEP = "spiffe://cluster.local/ns/default/sa/sleep";
    private static final byte[] IP_POD = {10, 1, 2, 3};
    private static final byte[] IP_WAYPOINT = {10, 1, 9, 9};

    @Test
    void wireHelperEncodesTheSpecExample() {
        // The protobuf encoding guide's example: field 1 = 150 is 08 96 01.
        assertThat(Wire.msg().varint(1, 150).toByteArray()).containsExactly(0x08, 0x96, 0x01);
        // Field 20 (ztunnel's Workload.uid) needs a two-byte key: (20 << 3) | 2 = 162 = a2 01.
        assertThat(Wire.msg().string(20, "u").toByteArray()).containsExactly(0xa2, 0x01, 0x01, 'u');
    }

    // ---------------------------------------------------------------- Istio CA

    @Test
    void certificateRequestFromZtunnelDecodes() throws Exception {
        Wire struct = Wire.msg()
                // Struct.fields (1) is map<string, Value>; Value.string_value is field 3.
                .mapEntry(1, "ImpersonatedIdentity", Wire.msg().string(3, SPIFFE_SLEEP));
        byte[] wire = Wire.msg()
                .string(1, "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n")
                .varint(3, 86_400)
                .message(4, struct)
                .toByteArray();

        IstioCertificateRequest request = IstioCertificateRequest.parseFrom(wire);

        assertThat(request.getCsr()).startsWith("-----BEGIN CERTIFICATE REQUEST-----");
        assertThat(request.getValidityDuration()).isEqualTo(86_400L);
        assertThat(request.getMetadata().getFieldsMap())
                .containsOnlyKeys("ImpersonatedIdentity");
        assertThat(request.getMetadata().getFieldsOrThrow("ImpersonatedIdentity").getStringValue())
                .isEqualTo(SPIFFE_SLEEP);
        assertThat(request.getUnknownFields().asMap()).isEmpty();

        IstioCertificateRequest built = IstioCertificateRequest.newBuilder()
                .setCsr(request.getCsr())
                .setValidityDuration(86_400)
                .setMetadata(Struct.newBuilder()
                        .putFields("ImpersonatedIdentity", Value.newBuilder().setStringValue(SPIFFE_SLEEP).build()))
                .build();
        assertThat(built.toByteArray()).isEqualTo(wire);
    }

    @Test
    void certificateResponseChainDecodesInOrder() throws Exception {
        byte[] wire = Wire.msg()
                .string(1, "LEAF")
                .string(1, "INTERMEDIATE")
                .string(1, "ROOT-A\nROOT-B")
                .message(2, Wire.msg().string(1, "ROOT-A").string(1, "ROOT-B"))
                .toByteArray();

        IstioCertificateResponse response = IstioCertificateResponse.parseFrom(wire);

        assertThat(response.getCertChainList()).containsExactly("LEAF", "INTERMEDIATE", "ROOT-A\nROOT-B");
        assertThat(response.getRootCert().getCaCertList()).containsExactly("ROOT-A", "ROOT-B");
        assertThat(response.toByteArray()).isEqualTo(wire);
    }

    // ---------------------------------------------------------------- Envoy delta ADS

    @Test
    void deltaDiscoveryRequestFromZtunnelDecodes() throws Exception {
        Wire node = Wire.msg()
                .string(1, "ztunnel~10.0.0.5~ztunnel-abcde.istio-system~istio-system.svc.cluster.local")
                .string(2, "Kubernetes")
                .message(3, Wire.msg().mapEntry(1, "NODE_NAME", Wire.msg().string(3, "node-a")))
                .message(4, Wire.msg().string(1, "eu-west").string(2, "eu-west-1a").string(3, "rack-7"))
                .string(6, "ztunnel")
                .string(7, "1.26.0")
                .string(10, "envoy.lb.does_not_support_overprovisioning");
        Wire status = Wire.msg()
                .varint(1, 3) // INVALID_ARGUMENT
                .string(2, "failed to decode default/bad")
                .message(3, Wire.msg().string(1, "type.googleapis.com/example.Detail").bytes(2, new byte[] {1, 2}));
        byte[] wire = Wire.msg()
                .message(1, node)
                .string(2, "type.googleapis.com/istio.workload.Address")
                .string(3, "*")
                .string(3, "Kubernetes//Pod/default/sleep-1")
                .string(4, "default/old")
                .mapEntry(5, "Kubernetes//Pod/default/sleep-0", "v7")
                .string(6, "nonce-42")
                .message(7, status)
                .toByteArray();

        DeltaDiscoveryRequest request = DeltaDiscoveryRequest.parseFrom(wire);

        Node n = request.getNode();
        assertThat(n.getId()).startsWith("ztunnel~10.0.0.5~");
        assertThat(n.getCluster()).isEqualTo("Kubernetes");
        assertThat(n.getMetadata().getFieldsOrThrow("NODE_NAME").getStringValue()).isEqualTo("node-a");
        assertThat(n.getLocality()).isEqualTo(
                Locality.newBuilder().setRegion("eu-west").setZone("eu-west-1a").setSubZone("rack-7").build());
        assertThat(n.getUserAgentName()).isEqualTo("ztunnel");
        assertThat(n.getUserAgentVersion()).isEqualTo("1.26.0");
        assertThat(n.getClientFeaturesList()).containsExactly("envoy.lb.does_not_support_overprovisioning");
        assertThat(request.getTypeUrl()).isEqualTo("type.googleapis.com/istio.workload.Address");
        assertThat(request.getResourceNamesSubscribeList()).containsExactly("*", "Kubernetes//Pod/default/sleep-1");
        assertThat(request.getResourceNamesUnsubscribeList()).containsExactly("default/old");
        assertThat(request.getInitialResourceVersionsMap()).containsExactly(
                java.util.Map.entry("Kubernetes//Pod/default/sleep-0", "v7"));
        assertThat(request.getResponseNonce()).isEqualTo("nonce-42");
        Status error = request.getErrorDetail();
        assertThat(error.getCode()).isEqualTo(3);
        assertThat(error.getMessage()).isEqualTo("failed to decode default/bad");
        assertThat(error.getDetails(0).getTypeUrl()).isEqualTo("type.googleapis.com/example.Detail");
        assertThat(request.getUnknownFields().asMap()).isEmpty();

        DeltaDiscoveryRequest built = DeltaDiscoveryRequest.newBuilder()
                .setNode(Node.newBuilder()
                        .setId(n.getId())
                        .setCluster("Kubernetes")
                        .setMetadata(Struct.newBuilder().putFields("NODE_NAME",
                                Value.newBuilder().setStringValue("node-a").build()))
                        .setLocality(Locality.newBuilder().setRegion("eu-west").setZone("eu-west-1a").setSubZone("rack-7"))
                        .setUserAgentName("ztunnel")
                        .setUserAgentVersion("1.26.0")
                        .addClientFeatures("envoy.lb.does_not_support_overprovisioning"))
                .setTypeUrl("type.googleapis.com/istio.workload.Address")
                .addResourceNamesSubscribe("*")
                .addResourceNamesSubscribe("Kubernetes//Pod/default/sleep-1")
                .addResourceNamesUnsubscribe("default/old")
                .putInitialResourceVersions("Kubernetes//Pod/default/sleep-0", "v7")
                .setResponseNonce("nonce-42")
                .setErrorDetail(Status.newBuilder()
                        .setCode(3)
                        .setMessage("failed to decode default/bad")
                        .addDetails(Any.newBuilder()
                                .setTypeUrl("type.googleapis.com/example.Detail")
                                .setValue(ByteString.copyFrom(new byte[] {1, 2}))))
                .build();
        assertThat(built.toByteArray()).isEqualTo(wire);
    }

    @Test
    void deltaDiscoveryResponseCarryingAnAddressDecodes() throws Exception {
        byte[] address = handBuiltWorkloadAddress();
        Wire resource = Wire.msg()
                .string(1, "2024-06-01T10:00:00Z/17")
                .message(2, Wire.msg().string(1, "type.googleapis.com/istio.workload.Address").bytes(2, address))
                .string(3, "Kubernetes//Pod/default/sleep-1")
                .string(4, "default/10.1.2.3")
                .message(6, Wire.msg().varint(1, 30)) // Duration.seconds
                .message(7, Wire.msg().bool(1, true));
        byte[] wire = Wire.msg()
                .string(1, "v17")
                .message(2, resource)
                .string(4, "type.googleapis.com/istio.workload.Address")
                .string(5, "nonce-43")
                .string(6, "Kubernetes//Pod/default/gone")
                .message(7, Wire.msg().string(1, "policy-0"))
                .toByteArray();

        DeltaDiscoveryResponse response = DeltaDiscoveryResponse.parseFrom(wire);

        assertThat(response.getSystemVersionInfo()).isEqualTo("v17");
        assertThat(response.getTypeUrl()).isEqualTo("type.googleapis.com/istio.workload.Address");
        assertThat(response.getNonce()).isEqualTo("nonce-43");
        assertThat(response.getRemovedResourcesList()).containsExactly("Kubernetes//Pod/default/gone");
        assertThat(response.getControlPlane().getIdentifier()).isEqualTo("policy-0");
        Resource r = response.getResources(0);
        assertThat(r.getVersion()).isEqualTo("2024-06-01T10:00:00Z/17");
        assertThat(r.getName()).isEqualTo("Kubernetes//Pod/default/sleep-1");
        assertThat(r.getAliasesList()).containsExactly("default/10.1.2.3");
        assertThat(r.getTtl()).isEqualTo(Duration.newBuilder().setSeconds(30).build());
        assertThat(r.getCacheControl().getDoNotCache()).isTrue();
        // Any.is/unpack resolve by the proto full name, so the type URL istiod uses matches our class.
        assertThat(r.getResource().is(Address.class)).isTrue();
        assertThat(r.getResource().unpack(Address.class)).isEqualTo(Address.parseFrom(address));

        DeltaDiscoveryResponse built = DeltaDiscoveryResponse.newBuilder()
                .setSystemVersionInfo("v17")
                .addResources(Resource.newBuilder()
                        .setVersion("2024-06-01T10:00:00Z/17")
                        .setResource(Any.pack(Address.parseFrom(address)))
                        .setName("Kubernetes//Pod/default/sleep-1")
                        .addAliases("default/10.1.2.3")
                        .setTtl(Duration.newBuilder().setSeconds(30))
                        .setCacheControl(Resource.CacheControl.newBuilder().setDoNotCache(true)))
                .setTypeUrl("type.googleapis.com/istio.workload.Address")
                .setNonce("nonce-43")
                .addRemovedResources("Kubernetes//Pod/default/gone")
                .setControlPlane(io.jmesh.proto.envoy.config.core.v3.ControlPlane.newBuilder().setIdentifier("policy-0"))
                .build();
        assertThat(built.toByteArray()).isEqualTo(wire);
    }

    // ---------------------------------------------------------------- Istio workload API

    /** Address{workload = 1: Workload{...}} with fields in ascending number (canonical order). */
    private static byte[] handBuiltWorkloadAddress() {
        Wire waypoint = Wire.msg()
                .message(2, Wire.msg().bytes(2, IP_WAYPOINT))  // NetworkAddress{address}, default network
                .varint(3, 15008);                                          // hbone_mtls_port
        Wire ports = Wire.msg()
                .message(1, Wire.msg().varint(1, 80).varint(2, 8080).varint(3, 1))   // Port{80 -> 8080, HTTP11}
                .message(1, Wire.msg().varint(1, 9090).varint(2, 9090));            // Port{9090 -> 9090}
        Wire workload = Wire.msg()
                .string(1, "sleep-1")
                .string(2, "default")
                .bytes(3, IP_POD)
                .varint(5, 1)                        // tunnel_protocol HBONE
                .string(6, "cluster.local")
                .string(7, "sleep")
                .message(8, waypoint)
                .string(9, "node-a")
                .string(10, "sleep")
                .string(11, "v1")
                .varint(12, 2)                       // workload_type POD
                .string(13, "sleep")
                .string(16, "default/allow-sleep")
                .string(18, "Kubernetes")
                .string(20, "Kubernetes//Pod/default/sleep-1")
                .mapEntry(22, "default/sleep.default.svc.cluster.local", ports)
                .message(24, Wire.msg().string(1, "eu-west").string(2, "eu-west-1a"))
                .message(27, Wire.msg().varint(1, 3)); // capacity UInt32Value{3}
        return Wire.msg().message(1, workload).toByteArray();
    }

    @Test
    void workloadAddressFromIstiodDecodes() throws Exception {
        byte[] wire = handBuiltWorkloadAddress();

        Address address = Address.parseFrom(wire);

        assertThat(address.getTypeCase()).isEqualTo(Address.TypeCase.WORKLOAD);
        Workload w = address.getWorkload();
        assertThat(w.getUid()).isEqualTo("Kubernetes//Pod/default/sleep-1");
        assertThat(w.getName()).isEqualTo("sleep-1");
        assertThat(w.getNamespace()).isEqualTo("default");
        assertThat(w.getAddressesList()).containsExactly(ByteString.copyFrom(IP_POD));
        assertThat(w.getTunnelProtocol()).isEqualTo(TunnelProtocol.HBONE);
        assertThat(w.getTrustDomain()).isEqualTo("cluster.local");
        assertThat(w.getServiceAccount()).isEqualTo("sleep");
        assertThat(w.getNode()).isEqualTo("node-a");
        assertThat(w.getCanonicalName()).isEqualTo("sleep");
        assertThat(w.getCanonicalRevision()).isEqualTo("v1");
        assertThat(w.getWorkloadType()).isEqualTo(WorkloadType.POD);
        assertThat(w.getWorkloadName()).isEqualTo("sleep");
        assertThat(w.getAuthorizationPoliciesList()).containsExactly("default/allow-sleep");
        assertThat(w.getClusterId()).isEqualTo("Kubernetes");
        assertThat(w.getLocality().getRegion()).isEqualTo("eu-west");
        assertThat(w.getLocality().getZone()).isEqualTo("eu-west-1a");
        assertThat(w.hasCapacity()).isTrue();
        assertThat(w.getCapacity().getValue()).isEqualTo(3);
        GatewayAddress wp = w.getWaypoint();
        assertThat(wp.getDestinationCase()).isEqualTo(GatewayAddress.DestinationCase.ADDRESS);
        assertThat(wp.getAddress().getAddress().toByteArray()).isEqualTo(IP_WAYPOINT);
        assertThat(wp.getHboneMtlsPort()).isEqualTo(15008);
        PortList ports = w.getServicesOrThrow("default/sleep.default.svc.cluster.local");
        assertThat(ports.getPortsList()).containsExactly(
                Port.newBuilder().setServicePort(80).setTargetPort(8080).setAppProtocol(AppProtocol.HTTP11).build(),
                Port.newBuilder().setServicePort(9090).setTargetPort(9090).build());
        assertThat(w.getUnknownFields().asMap()).isEmpty();

        Workload built = Workload.newBuilder()
                .setUid("Kubernetes//Pod/default/sleep-1")
                .setName("sleep-1")
                .setNamespace("default")
                .addAddresses(ByteString.copyFrom(IP_POD))
                .setTunnelProtocol(TunnelProtocol.HBONE)
                .setTrustDomain("cluster.local")
                .setServiceAccount("sleep")
                .setWaypoint(GatewayAddress.newBuilder()
                        .setAddress(NetworkAddress.newBuilder().setAddress(ByteString.copyFrom(IP_WAYPOINT)))
                        .setHboneMtlsPort(15008))
                .setNode("node-a")
                .setCanonicalName("sleep")
                .setCanonicalRevision("v1")
                .setWorkloadType(WorkloadType.POD)
                .setWorkloadName("sleep")
                .addAuthorizationPolicies("default/allow-sleep")
                .setClusterId("Kubernetes")
                .putServices("default/sleep.default.svc.cluster.local", ports)
                .setLocality(io.jmesh.proto.istio.workload.Locality.newBuilder()
                        .setRegion("eu-west").setZone("eu-west-1a"))
                .setCapacity(UInt32Value.of(3))
                .build();
        assertThat(Address.newBuilder().setWorkload(built).build().toByteArray()).isEqualTo(wire);
    }

    @Test
    void serviceAddressDecodes() throws Exception {
        byte[] vip = {10, 96, 0, 10};
        byte[] wire = Wire.msg().message(2, Wire.msg()
                        .string(1, "reviews")
                        .string(2, "default")
                        .string(3, "reviews.default.svc.cluster.local")
                        .message(4, Wire.msg().string(1, "net-1").bytes(2, vip))
                        .message(5, Wire.msg().varint(1, 9080))               // target_port 0 (named): not on the wire
                        .string(6, "spiffe://cluster.local/ns/default/sa/reviews")
                        .message(7, Wire.msg()
                                .message(1, Wire.msg().string(1, "default").string(2, "waypoint.default.svc.cluster.local"))
                                .varint(3, 15008))
                        .message(8, Wire.msg().packedVarints(1, 4, 2).varint(2, 2)) // [NODE, ZONE], FAILOVER
                        .varint(9, 3)                                               // DUAL
                        .bool(11, true)
                        .bool(12, true))
                .toByteArray();

        Service s = Address.parseFrom(wire).getService();

        assertThat(s.getName()).isEqualTo("reviews");
        assertThat(s.getNamespace()).isEqualTo("default");
        assertThat(s.getHostname()).isEqualTo("reviews.default.svc.cluster.local");
        assertThat(s.getAddresses(0).getNetwork()).isEqualTo("net-1");
        assertThat(s.getAddresses(0).getAddress().toByteArray()).isEqualTo(vip);
        assertThat(s.getPorts(0).getServicePort()).isEqualTo(9080);
        assertThat(s.getPorts(0).getTargetPort()).isZero();
        assertThat(s.getSubjectAltNamesList()).containsExactly("spiffe://cluster.local/ns/default/sa/reviews");
        assertThat(s.getWaypoint().getHostname().getHostname()).isEqualTo("waypoint.default.svc.cluster.local");
        assertThat(s.getWaypoint().getHboneMtlsPort()).isEqualTo(15008);
        assertThat(s.getLoadBalancing().getRoutingPreferenceList())
                .containsExactly(LoadBalancing.Scope.NODE, LoadBalancing.Scope.ZONE);
        assertThat(s.getLoadBalancing().getMode()).isEqualTo(LoadBalancing.Mode.FAILOVER);
        assertThat(s.getIpFamilies()).isEqualTo(io.jmesh.proto.istio.workload.IPFamilies.DUAL);
        assertThat(s.getCanonical()).isTrue();
        assertThat(s.getIngressUseWaypoint()).isTrue();
        assertThat(Address.parseFrom(wire).toByteArray()).isEqualTo(wire);
    }

    @Test
    void fieldsUnknownToUsSurviveAReencode() throws Exception {
        // A newer istiod may send Workload fields we do not declare (here: 28 and 99). ztunnel-style
        // relays must not lose them.
        byte[] wire = Wire.msg().message(1, Wire.msg()
                        .string(20, "uid-1")
                        .varint(28, 5)
                        .string(99, "future"))
                .toByteArray();

        Address a = Address.parseFrom(wire);

        assertThat(a.getWorkload().getUid()).isEqualTo("uid-1");
        assertThat(a.getWorkload().getUnknownFields().hasField(28)).isTrue();
        assertThat(a.getWorkload().getUnknownFields().hasField(99)).isTrue();
        assertThat(a.toByteArray()).isEqualTo(wire);
    }

    // ---------------------------------------------------------------- Istio L4 authorization

    @Test
    void authorizationFromIstiodDecodes() throws Exception {
        Wire match = Wire.msg()
                .message(1, Wire.msg().string(1, "default"))                              // namespaces exact
                .message(3, Wire.msg().string(2, "cluster.local/ns/default/sa/"))       // principals prefix
                .message(4, Wire.msg().message(4, Wire.msg()))                          // not_principals presence
                .message(5, Wire.msg().bytes(1, new byte[] {10, 0, 0, 0}).varint(2, 8)) // source_ips 10.0.0.0/8
                .packedVarints(9, 8080, 9090)                                           // destination_ports
                .message(11, Wire.msg().string(1, "default").string(2, "sleep"));     // service_accounts
        byte[] wire = Wire.msg()
                .string(1, "allow-sleep")
                .string(2, "default")
                .varint(3, 2)  // WORKLOAD_SELECTOR
                .varint(4, 1)  // DENY
                .message(5, Wire.msg().message(1, Wire.msg().message(2, match)))
                .bool(6, true) // dry_run
                .toByteArray();

        Authorization authz = Authorization.parseFrom(wire);

        assertThat(authz.getName()).isEqualTo("allow-sleep");
        assertThat(authz.getNamespace()).isEqualTo("default");
        assertThat(authz.getScope()).isEqualTo(Scope.WORKLOAD_SELECTOR);
        assertThat(authz.getAction()).isEqualTo(Action.DENY);
        assertThat(authz.getDryRun()).isTrue();
        Match m = authz.getRules(0).getClauses(0).getMatches(0);
        assertThat(m.getNamespaces(0).getExact()).isEqualTo("default");
        assertThat(m.getPrincipals(0).getMatchTypeCase()).isEqualTo(StringMatch.MatchTypeCase.PREFIX);
        assertThat(m.getPrincipals(0).getPrefix()).isEqualTo("cluster.local/ns/default/sa/");
        assertThat(m.getNotPrincipals(0).getMatchTypeCase()).isEqualTo(StringMatch.MatchTypeCase.PRESENCE);
        assertThat(m.getSourceIps(0).getAddress().toByteArray()).containsExactly(10, 0, 0, 0);
        assertThat(m.getSourceIps(0).getLength()).isEqualTo(8);
        assertThat(m.getDestinationPortsList()).containsExactly(8080, 9090);
        assertThat(m.getServiceAccounts(0)).isEqualTo(
                ServiceAccountMatch.newBuilder().setNamespace("default").setServiceAccount("sleep").build());

        Authorization built = Authorization.newBuilder()
                .setName("allow-sleep")
                .setNamespace("default")
                .setScope(Scope.WORKLOAD_SELECTOR)
                .setAction(Action.DENY)
                .addRules(Rule.newBuilder().addClauses(Clause.newBuilder().addMatches(Match.newBuilder()
                        .addNamespaces(StringMatch.newBuilder().setExact("default"))
                        .addPrincipals(StringMatch.newBuilder().setPrefix("cluster.local/ns/default/sa/"))
                        .addNotPrincipals(StringMatch.newBuilder().setPresence(Empty.getDefaultInstance()))
                        .addSourceIps(io.jmesh.proto.istio.security.Address.newBuilder()
                                .setAddress(ByteString.copyFrom(new byte[] {10, 0, 0, 0}))
                                .setLength(8))
                        .addDestinationPorts(8080)
                        .addDestinationPorts(9090)
                        .addServiceAccounts(ServiceAccountMatch.newBuilder().setNamespace("default").setServiceAccount("sleep")))))
                .setDryRun(true)
                .build();
        assertThat(built.toByteArray()).isEqualTo(wire);
    }

    @Test
    void unpackedRepeatedPortsAreAcceptedToo() throws InvalidProtocolBufferException {
        // Parsers must accept both packed and unpacked encodings of repeated scalars.
        byte[] wire = Wire.msg().varint(9, 8080).varint(9, 9090).toByteArray();
        assertThat(Match.parseFrom(wire).getDestinationPortsList()).containsExactly(8080, 9090);
    }
}
