package io.jmesh.policy.state;

import com.google.protobuf.ByteString;
import com.google.protobuf.UInt32Value;
import io.jmesh.policy.translate.WorkloadLocality;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.config.v1.ServiceEntryPort;
import io.jmesh.proto.config.v1.ServiceEntrySpec;
import io.jmesh.proto.config.v1.WorkloadEntrySpec;
import io.jmesh.proto.istio.workload.GatewayAddress;
import io.jmesh.proto.istio.workload.Locality;
import io.jmesh.proto.istio.workload.Port;
import io.jmesh.proto.istio.workload.PortList;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.TunnelProtocol;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.proto.istio.workload.WorkloadStatus;
import io.jmesh.proto.istio.workload.WorkloadType;
import java.util.List;
import java.util.Map;

/**
 * A ServiceEntry as istiod translates it for ztunnel: a service per host, and a workload per endpoint of its own
 * (inline, or its hosts themselves to resolve). The pods and WorkloadEntries a selector picks are the builder's: they
 * are workloads already, the entry's hosts only add services to them ({@link #ports}).
 */
final class ServiceEntryTranslation {

    static final String AMBIENT_REDIRECTION = "ambient.istio.io/redirection";

    private final MeshSettings settings;
    private final ServiceShapes shapes;

    ServiceEntryTranslation(MeshSettings settings, ServiceShapes shapes) {
        this.settings = settings;
        this.shapes = shapes;
    }

    /**
     * The service of one host of a ServiceEntry, as istiod builds it: named after the entry, its VIPs the entry's
     * addresses, else (resolution other than NONE, a host without wildcard) the ones Istio's auto-allocation
     * recorded for the host, else {@code allocated} ({@link VipAllocation}); ports {@code number → targetPort}
     * ({@code number} when unset), the entry's subject alt names, its waypoint ({@code istio.io/use-waypoint} on the
     * entry, else its namespace) and traffic distribution annotation.
     */
    Service service(ConfigRecord r, String host, ConfigRecord namespace, String clusterNetwork,
            List<String> allocated) {
        ServiceEntrySpec spec = r.getServiceEntry();
        String ns = r.getMetadata().getNamespace();
        Service.Builder s = Service.newBuilder().setName(r.getMetadata().getName()).setNamespace(ns).setHostname(host)
                .addAllSubjectAltNames(spec.getSubjectAltNamesList());
        List<String> vips = spec.getAddressesList();
        if (vips.isEmpty() && spec.getResolution() != ServiceEntrySpec.Resolution.NONE && !host.startsWith("*.")) {
            vips = spec.getAllocatedAddressesList().stream().filter(a -> a.getHost().equals(host))
                    .map(ServiceEntrySpec.AllocatedAddress::getValue).toList();
            if (vips.isEmpty()) {
                vips = allocated; // istiod allocated none (it is not there): ours, the same on every replica
            }
        }
        for (ServiceEntryPort p : spec.getPortsList()) {
            s.addPorts(Port.newBuilder().setServicePort(p.getNumber())
                    .setTargetPort(p.getTargetPort() == 0 ? p.getNumber() : p.getTargetPort())
                    .setAppProtocol(ServiceShapes.appProtocol(p.getProtocol())));
        }
        return shapes.withVipsWaypointAndBalancing(s, vips, r, namespace, clusterNetwork);
    }

    /**
     * A ServiceEntry's own endpoints: the inline ones, or, with resolution DNS and neither endpoints nor selector,
     * one per host whose address is the host (ztunnel resolves it when it connects).
     */
    static List<WorkloadEntrySpec> endpoints(ServiceEntrySpec spec, List<String> hosts) {
        boolean dns = spec.getResolution() == ServiceEntrySpec.Resolution.DNS
                || spec.getResolution() == ServiceEntrySpec.Resolution.DNS_ROUND_ROBIN;
        if (spec.getEndpointsCount() > 0 || !dns || spec.hasWorkloadSelector()) {
            return spec.getEndpointsList();
        }
        return hosts.stream().filter(h -> !h.startsWith("*."))
                .map(h -> WorkloadEntrySpec.newBuilder().setAddress(h).build()).toList();
    }

    /**
     * The workload of one endpoint of a ServiceEntry, as istiod builds it: uid
     * {@code <cluster>/networking.istio.io/ServiceEntry/<ns>/<entry>/<address>}, named after the entry, an IP
     * address or a hostname ztunnel resolves, an endpoint of each of the entry's hosts (of only its own host when it
     * stands for one), its policies those selecting the entry's labels; plain TCP unless the entry says its
     * endpoints accept HBONE ({@value ServiceShapes#SIDECAR_TUNNEL}: http, or {@value #AMBIENT_REDIRECTION}: enabled).
     */
    Workload workload(ConfigRecord r, WorkloadEntrySpec e, List<String> hosts, List<String> policyKeys,
            String network, GatewayAddress networkGateway) {
        String ns = r.getMetadata().getNamespace();
        String name = r.getMetadata().getName();
        Map<String, String> labels = r.getMetadata().getLabelsMap();
        Workload.Builder w = Workload.newBuilder()
                .setUid(settings.clusterId() + "/networking.istio.io/ServiceEntry/" + ns + "/" + name + "/"
                        + e.getAddress())
                .setName(name).setNamespace(ns)
                .setNetwork(network)
                .setTrustDomain(settings.trustDomain())
                .setServiceAccount(e.getServiceAccount().isEmpty() ? "default" : e.getServiceAccount())
                .setWorkloadType(WorkloadType.POD)
                .setWorkloadName(name)
                .setClusterId(settings.clusterId())
                .setStatus(WorkloadStatus.HEALTHY)
                .addAllAuthorizationPolicies(policyKeys);
        ServiceShapes.canonical(w, labels, name);
        if (io.jmesh.core.net.IpLiteral.parse(e.getAddress()) != null) {
            w.addAddresses(ByteString.copyFrom(ServiceShapes.ip(e.getAddress())));
        } else {
            w.setHostname(e.getAddress());
        }
        if ("http".equals(labels.get(ServiceShapes.SIDECAR_TUNNEL))
                || "enabled".equals(r.getMetadata().getAnnotationsMap().get(AMBIENT_REDIRECTION))) {
            w.setTunnelProtocol(TunnelProtocol.HBONE);
        }
        if (networkGateway != null) {
            w.setNetworkGateway(networkGateway);
        }
        if (e.getWeight() > 0) {
            w.setCapacity(UInt32Value.of(e.getWeight()));
        }
        Locality locality = WorkloadLocality.of(e, Map.of());
        if (locality != null) {
            w.setLocality(locality);
        }
        GatewayAddress waypoint = shapes.waypoint(e.getLabelsMap(), Map.of(), Map.of(), ns);
        if (waypoint != null) {
            w.setWaypoint(waypoint);
        }
        PortList ports = ports(r.getServiceEntry(), e.getPortsMap());
        boolean ownHost = hosts.contains(e.getAddress()) && r.getServiceEntry().getEndpointsCount() == 0;
        for (String host : ownHost ? List.of(e.getAddress()) : hosts) {
            w.putServices(ns + "/" + host, ports);
        }
        return w.build();
    }

    /**
     * A ServiceEntry's ports on one endpoint: the endpoint's port of the entry port's name, else the entry port's
     * {@code targetPort}, else its number.
     */
    static PortList ports(ServiceEntrySpec spec, Map<String, Integer> endpointPorts) {
        PortList.Builder ports = PortList.newBuilder();
        for (ServiceEntryPort p : spec.getPortsList()) {
            Integer named = endpointPorts.get(p.getName());
            int target = named != null ? named : p.getTargetPort() != 0 ? p.getTargetPort() : p.getNumber();
            ports.addPorts(Port.newBuilder().setServicePort(p.getNumber()).setTargetPort(target)
                    .setAppProtocol(ServiceShapes.appProtocol(p.getProtocol())));
        }
        return ports.build();
    }
}
