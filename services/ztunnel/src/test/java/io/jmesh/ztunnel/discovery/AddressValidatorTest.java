package io.jmesh.ztunnel.discovery;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.ApplicationTunnel;
import io.jmesh.proto.istio.workload.GatewayAddress;
import io.jmesh.proto.istio.workload.NamespacedHostname;
import io.jmesh.proto.istio.workload.NetworkAddress;
import io.jmesh.proto.istio.workload.Port;
import io.jmesh.proto.istio.workload.PortList;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.Workload;
import org.junit.jupiter.api.Test;

/**
 * What {@link AddressValidator} refuses, as Istio's ztunnel refuses it when converting the resource
 * ({@code Workload::try_from}, {@code Service::try_from}, {@code GatewayAddress::try_from}): the data path reads these
 * fields as valid (a waypoint's address as an IP, a port as a socket port), so each one is checked on the way in and
 * the reason names the resource and the field.
 */
class AddressValidatorTest {

    static final ByteString IP = ByteString.copyFrom(new byte[] {10, 0, 0, 1});
    static final ByteString FIVE_BYTES = ByteString.copyFrom(new byte[5]);

    static Workload.Builder workload() {
        return Workload.newBuilder().setUid("w1").setName("w1").setNamespace("default").addAddresses(IP);
    }

    static Service.Builder service() {
        return Service.newBuilder().setName("svc").setNamespace("default").setHostname("svc.default.svc.cluster.local")
                .addAddresses(NetworkAddress.newBuilder().setAddress(IP));
    }

    static String problem(Workload.Builder w) {
        return AddressValidator.problem(w.getUid(), Address.newBuilder().setWorkload(w).build());
    }

    static String problem(Service.Builder s) {
        return AddressValidator.problem(WorkloadIndex.name(s.build()), Address.newBuilder().setService(s).build());
    }

    static GatewayAddress.Builder gateway(ByteString ip) {
        return GatewayAddress.newBuilder().setAddress(NetworkAddress.newBuilder().setAddress(ip)).setHboneMtlsPort(15008);
    }

    @Test
    void validOnesPass() {
        assertThat(problem(workload().setWaypoint(gateway(IP)).setNetworkGateway(GatewayAddress.newBuilder()
                .setHostname(NamespacedHostname.newBuilder().setNamespace("ns").setHostname("gw.example")))
                .putServices("default/svc.default.svc.cluster.local", PortList.newBuilder()
                        .addPorts(Port.newBuilder().setServicePort(80).setTargetPort(8080)).build())
                .setApplicationTunnel(ApplicationTunnel.newBuilder().setProtocol(ApplicationTunnel.Protocol.PROXY)
                        .setPort(15088)))).isNull();
        assertThat(problem(service().setWaypoint(gateway(IP))
                .addPorts(Port.newBuilder().setServicePort(80).setTargetPort(0)))).isNull();
    }

    @Test
    void aGatewayAddressOfTheWrongLengthIsRefused() {
        assertThat(problem(workload().setWaypoint(gateway(FIVE_BYTES))))
                .isEqualTo("workload w1: waypoint.address has 5 bytes (expected: 4 or 16)");
        assertThat(problem(workload().setNetworkGateway(gateway(ByteString.EMPTY))))
                .isEqualTo("workload w1: network_gateway.address has 0 bytes (expected: 4 or 16)");
        assertThat(problem(service().setWaypoint(gateway(FIVE_BYTES)))).isEqualTo(
                "service default/svc.default.svc.cluster.local: waypoint.address has 5 bytes (expected: 4 or 16)");
    }

    @Test
    void aGatewayWithoutDestinationIsRefused() {
        assertThat(problem(workload().setWaypoint(GatewayAddress.newBuilder().setHboneMtlsPort(15008))))
                .isEqualTo("workload w1: waypoint has neither address nor hostname");
    }

    @Test
    void aPortThatIsNoPortIsRefused() {
        assertThat(problem(workload().setWaypoint(gateway(IP).setHboneMtlsPort(70000))))
                .isEqualTo("workload w1: waypoint.hbone_mtls_port 70000 is out of range (0-65535)");
        assertThat(problem(service().addPorts(Port.newBuilder().setServicePort(80).setTargetPort(65536)))).isEqualTo(
                "service default/svc.default.svc.cluster.local: ports[0].target_port 65536 is out of range (0-65535)");
        assertThat(problem(workload().putServices("default/svc", PortList.newBuilder()
                .addPorts(Port.newBuilder().setServicePort(100000).setTargetPort(80)).build()))).isEqualTo(
                "workload w1: services[default/svc].ports[0].service_port 100000 is out of range (0-65535)");
        assertThat(problem(workload().setApplicationTunnel(ApplicationTunnel.newBuilder().setPort(-1))))
                .isEqualTo("workload w1: application_tunnel.port 4294967295 is out of range (0-65535)");
    }

    @Test
    void aWorkloadWhoseFieldsMakeNoSpiffeIdIsRefusedNamingTheField() {
        // each connection to or from it builds its identity: accepted, every one of them failed (found by fuzzing)
        assertThat(problem(workload().setTrustDomain("clu   .local"))).isEqualTo("workload w1: no SPIFFE identity:"
                + " trust domain: 'clu   .local' (expected: lowercase letters, digits, '.', '-', '_')");
        assertThat(problem(workload().setNamespace("Default")))
                .isEqualTo("workload w1: no SPIFFE identity: namespace: 'Default' (expected: a DNS-1123 label)");
        assertThat(problem(workload().setServiceAccount("sa/admin"))).isEqualTo(
                "workload w1: no SPIFFE identity: service account: 'sa/admin' (expected: a DNS-1123 subdomain)");
        // unset trust domain and service account are Istio's defaults (the mesh's, and "default")
        assertThat(problem(workload().setTrustDomain("").setServiceAccount(""))).isNull();
    }

    @Test
    void aServiceKeyThatIsNoNamespacedHostnameIsRefused() {
        assertThat(problem(workload().putServices("svc-without-namespace", PortList.getDefaultInstance())))
                .isEqualTo("workload w1: services key 'svc-without-namespace' is not namespace/hostname");
    }

    @Test
    void anEnumValueThisVersionDoesNotKnowIsRefused() {
        assertThat(problem(workload().setTunnelProtocolValue(7)))
                .isEqualTo("workload w1: tunnel_protocol 7 is unknown (expected: NONE, HBONE or LEGACY_ISTIO_MTLS)");
        assertThat(problem(workload().setStatusValue(9)))
                .isEqualTo("workload w1: status 9 is unknown (expected: HEALTHY or UNHEALTHY)");
        assertThat(problem(workload().setNetworkModeValue(4)))
                .isEqualTo("workload w1: network_mode 4 is unknown (expected: STANDARD or HOST_NETWORK)");
        assertThat(problem(workload().setApplicationTunnel(ApplicationTunnel.newBuilder().setProtocolValue(3))))
                .isEqualTo("workload w1: application_tunnel.protocol 3 is unknown (expected: NONE or PROXY)");
    }
}
