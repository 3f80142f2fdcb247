package io.jmesh.ztunnel.discovery;

import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.NetworkAddress;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.Workload;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One immutable snapshot of the workloads and services ztunnel knows, indexed for the data path: by resource
 * name, workload uid, address, service VIP and service hostname, plus each service's endpoints, arranged for the
 * per-connection choice ({@link ServiceEndpoints}).
 *
 * <p>Built once per discovery push and swapped atomically by {@link WorkloadStore}; readers on event loops never
 * lock. Resource names follow Istio: a workload is named by its {@code uid}, a service by
 * {@code namespace/hostname}.
 */
public final class WorkloadIndex {

    public static final WorkloadIndex EMPTY = new WorkloadIndex(Map.of());

    private final Map<String, Address> resources;
    private final Map<String, Workload> byUid = new HashMap<>();
    private final Map<InetAddress, Workload> workloadsByIp = new HashMap<>();
    private final Map<InetAddress, Service> servicesByVip = new HashMap<>();
    private final Map<String, Service> servicesByHostname = new HashMap<>();
    private final Map<String, Service> servicesByName = new HashMap<>();
    private final Map<String, List<Workload>> endpoints = new HashMap<>();
    // by the very Service objects of this snapshot (callers hold those), so a lookup builds no name
    private final Map<Service, ServiceEndpoints> arranged = new IdentityHashMap<>();
    private final Map<String, ServiceEndpoints> arrangedByName = new HashMap<>();

    private WorkloadIndex(Map<String, Address> resources) {
        this.resources = resources;
        for (Address a : resources.values()) {
            if (a.hasWorkload()) {
                Workload w = a.getWorkload();
                byUid.put(w.getUid(), w);
                for (var raw : w.getAddressesList()) {
                    workloadsByIp.put(ip(raw.toByteArray()), w);
                }
                for (String svc : w.getServicesMap().keySet()) {
                    endpoints.computeIfAbsent(svc, k -> new ArrayList<>()).add(w);
                }
            } else if (a.hasService()) {
                Service s = a.getService();
                servicesByName.put(name(s), s);
                servicesByHostname.put(s.getHostname(), s);
                for (NetworkAddress na : s.getAddressesList()) {
                    servicesByVip.put(ip(na.getAddress().toByteArray()), s);
                }
            }
        }
        endpoints.replaceAll((k, v) -> List.copyOf(v));
        servicesByName.forEach((name, s) -> {
            ServiceEndpoints e = new ServiceEndpoints(s, endpoints.getOrDefault(name, List.of()));
            arranged.put(s, e);
            arrangedByName.put(name, e);
        });
    }

    /** Resource name of a service: {@code namespace/hostname}. */
    public static String name(Service s) {
        return s.getNamespace() + "/" + s.getHostname();
    }

    /** Resource name of any address resource. */
    public static String name(Address a) {
        return a.hasWorkload() ? a.getWorkload().getUid() : name(a.getService());
    }

    /** A new index with {@code upserts} applied, then {@code removed} names deleted. */
    public WorkloadIndex with(Map<String, Address> upserts, Collection<String> removed) {
        Map<String, Address> next = new LinkedHashMap<>(resources);
        next.putAll(upserts);
        removed.forEach(next::remove);
        return new WorkloadIndex(Map.copyOf(next));
    }

    /** An index holding exactly {@code all}. */
    public static WorkloadIndex of(Map<String, Address> all) {
        return new WorkloadIndex(Map.copyOf(all));
    }

    public Map<String, Address> resources() {
        return resources;
    }

    public Workload workloadByUid(String uid) {
        return byUid.get(uid);
    }

    public Workload workloadByIp(InetAddress ip) {
        return workloadsByIp.get(ip);
    }

    public Service serviceByVip(InetAddress ip) {
        return servicesByVip.get(ip);
    }

    public Service serviceByHostname(String hostname) {
        return servicesByHostname.get(hostname);
    }

    public Service serviceByName(String namespaceHostname) {
        return servicesByName.get(namespaceHostname);
    }

    /** Workloads that list {@code service} among their services (healthy or not). */
    public List<Workload> endpoints(Service service) {
        return endpoints.getOrDefault(name(service), List.of());
    }

    /**
     * The endpoints of {@code service}, arranged for choosing one per connection with its load balancing; for a
     * service not in this snapshot, arranged on the spot (by name if a service of that name is here).
     */
    public ServiceEndpoints serviceEndpoints(Service service) {
        ServiceEndpoints e = arranged.get(service);
        if (e != null) {
            return e;
        }
        e = arrangedByName.get(name(service));
        return e != null && e.service().equals(service) ? e
                : new ServiceEndpoints(service, endpoints.getOrDefault(name(service), List.of()));
    }

    public Collection<Workload> workloads() {
        return byUid.values();
    }

    public Collection<Service> services() {
        return servicesByName.values();
    }

    /** Workloads scheduled on {@code node}. */
    public List<Workload> workloadsOnNode(String node) {
        List<Workload> out = new ArrayList<>();
        for (Workload w : byUid.values()) {
            if (node.equals(w.getNode())) {
                out.add(w);
            }
        }
        return out;
    }

    /** The first address of {@code w}, or null when it has none. */
    public static InetAddress firstIp(Workload w) {
        return w.getAddressesCount() == 0 ? null : ip(w.getAddresses(0).toByteArray());
    }

    static InetAddress ip(byte[] raw) {
        try {
            return InetAddress.getByAddress(raw);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("address: " + raw.length + " bytes (expected: 4 or 16)", e);
        }
    }
}
