package io.jmesh.ztunnel.inbound;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.Port;
import io.jmesh.proto.istio.workload.PortList;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The destination service an inbound connection that names none is reported with, as Istio's
 * {@code guess_inbound_service}: a service of the destination workload whose target port is the port connected
 * to, or whose service port this endpoint serves on that port (a named target port). A service port that merely
 * equals the port connected to is no match.
 */
class ServiceOnPortTest {

    static final String WEB = "default/web.default.svc.cluster.local";
    static final String ADMIN = "default/admin.default.svc.cluster.local";

    static Address service(String name, int servicePort, int targetPort) {
        return Address.newBuilder().setService(Service.newBuilder().setName(name).setNamespace("default")
                .setHostname(name + ".default.svc.cluster.local")
                .addPorts(Port.newBuilder().setServicePort(servicePort).setTargetPort(targetPort))).build();
    }

    static PortList ports(int servicePort, int targetPort) {
        return PortList.newBuilder().addPorts(Port.newBuilder().setServicePort(servicePort).setTargetPort(targetPort))
                .build();
    }

    static String serviceOf(Map<String, PortList> memberships, Map<String, Address> services, int port) {
        Workload app = Workload.newBuilder().setUid("app").setName("app").setNamespace("default")
                .putAllServices(memberships).build();
        Map<String, Address> all = new LinkedHashMap<>(services);
        all.put("app", Address.newBuilder().setWorkload(app).build());
        WorkloadStore store = new WorkloadStore();
        store.replaceAll(all);
        Service s = InboundStream.serviceOnPort(store.current(), app, port);
        return s == null ? null : s.getName();
    }

    @Test
    void aServiceWhosePortEqualsTheConnectedPortButForwardsElsewhereIsNoMatch() {
        // web: 8080 -> 9000; admin: 80 -> 8080. A connection to the pod's 8080 reaches admin, not web.
        var memberships = new LinkedHashMap<String, PortList>();
        memberships.put(WEB, ports(8080, 9000));
        memberships.put(ADMIN, ports(80, 8080));
        assertThat(serviceOf(memberships, Map.of(WEB, service("web", 8080, 9000), ADMIN, service("admin", 80, 8080)),
                8080)).isEqualTo("admin");
        assertThat(serviceOf(Map.of(WEB, ports(8080, 9000)), Map.of(WEB, service("web", 8080, 9000)), 8080))
                .isNull();
    }

    @Test
    void theServicesTargetPortMatches() {
        // the endpoint's own list leaves the target unset: the Service's target port applies
        assertThat(serviceOf(Map.of(WEB, ports(80, 0)), Map.of(WEB, service("web", 80, 8080)), 8080))
                .isEqualTo("web");
    }

    @Test
    void aNamedTargetPortResolvedByThisEndpointMatches() {
        // the Service names its target (target port 0); this endpoint serves port 80 on 8443
        assertThat(serviceOf(Map.of(WEB, ports(80, 8443)), Map.of(WEB, service("web", 80, 0)), 8443))
                .isEqualTo("web");
        assertThat(serviceOf(Map.of(WEB, ports(80, 8443)), Map.of(WEB, service("web", 80, 0)), 80)).isNull();
    }

    @Test
    void aServiceTheStoreDoesNotHoldIsNoMatch() {
        assertThat(serviceOf(Map.of(WEB, ports(80, 8080)), Map.of(), 8080)).isNull();
    }
}
