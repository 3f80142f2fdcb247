package io.jmesh.ztunnel.discovery;

import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.NetworkAddress;
import io.jmesh.proto.istio.workload.NetworkMode;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.TunnelProtocol;
import io.jmesh.proto.istio.workload.Workload;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;

/**
 * One immutable snapshot of the workloads and services ztunnel knows, indexed for the data path: by resource
 * name, workload uid, address, service VIP and service hostname, plus each service's endpoints, arranged for the
 * per-connection choice ({@link ServiceEndpoints}).
 *
 * <p>A host-network workload (Istio's {@code HOST_NETWORK}) is no address's holder: it shares its node's address,
 * so a lookup by that address finds no workload (the traffic is the node's and passes through) while the workload
 * is still an endpoint of its services.
 *
 * <p>Addresses are keyed by network and IP, as Istio's {@code network/IP}: two networks may reuse one pod address.
 * An index answers {@link #workloadByIp}/{@link #serviceByVip} for its own network (the node's); an address the
 * registry gives no network is found from any network, so a registry that names no networks keeps working when
 * nodes do. {@link #workloadAt}/{@link #serviceAt} look on a named network (an east-west gateway's).
 *
 * <p>Built once per discovery push and swapped atomically by {@link WorkloadStore}; readers on event loops never
 * lock. Resource names follow Istio: a workload is named by its {@code uid}, a service by
 * {@code namespace/hostname}.
 *
 * <p>A push costs what it changes, not what the mesh holds: {@link #with} re-indexes only the resources the push
 * adds, replaces or removes, into maps ({@link ShardedMap}) that share every untouched part with the previous
 * index, and re-arranges only the services whose resource or endpoints changed. (policy sends a large snapshot in parts of ~200 KiB, some 90 for 55,000 addresses; rebuilding
 * everything per part made the first sync quadratic and held the discovery event loop for tens of milliseconds
 * per push.) The one exception is a key held by two resources (two workloads with one address, say): an index
 * with such a collision is rebuilt whole on every push until the collision is gone, and of two workloads on one
 * address a lookup finds the {@link #preferred} one.
 */
public final class WorkloadIndex {

    public static final WorkloadIndex EMPTY = of(Map.of());

    /** An address on a network ({@code ""}: the default one). */
    record NetworkIp(String network, InetAddress ip) {}

    private final ShardedMap<String, Address> resources;
    private final ShardedMap<String, Workload> byUid;
    private final ShardedMap<NetworkIp, Workload> workloadsByIp;
    private final ShardedMap<NetworkIp, Service> servicesByVip;
    private final ShardedMap<String, Service> servicesByHostname;
    private final ShardedMap<String, Service> servicesByName;
    private final ShardedMap<String, List<Workload>> endpoints;
    // by the Service objects of this snapshot (callers hold those: the lookup is an identity hit on a memoized
    // hash), so a lookup builds no name; and by name
    private final ShardedMap<Service, ServiceEndpoints> arranged;
    private final ShardedMap<String, ServiceEndpoints> arrangedByName;
    // some key (uid, address, VIP, hostname, service name) is held by more than one resource
    private final boolean collisions;
    private final String network;

    private WorkloadIndex(Indexes ix, String network) {
        this.network = network;
        this.resources = ix.resources.build();
        this.byUid = ix.byUid.build();
        this.workloadsByIp = ix.workloadsByIp.build();
        this.servicesByVip = ix.servicesByVip.build();
        this.servicesByHostname = ix.servicesByHostname.build();
        this.servicesByName = ix.servicesByName.build();
        this.endpoints = ix.endpoints.build();
        this.arranged = ix.arranged.build();
        this.arrangedByName = ix.arrangedByName.build();
        this.collisions = ix.collisions;
    }

    /**
     * Of two workloads claiming one address, the one a lookup finds, ranked as Istio's ztunnel ranks them: a pod
     * before any other kind (a WorkloadEntry can claim any address; a pod's is what the network gave it), then one
     * in the mesh (HBONE); then the smaller uid, so that every build, whatever order it met them in, agrees.
     */
    static Workload preferred(Workload a, Workload b) {
        int byRank = Integer.compare(rank(a), rank(b));
        if (byRank != 0) {
            return byRank > 0 ? a : b;
        }
        return a.getUid().compareTo(b.getUid()) <= 0 ? a : b;
    }

    private static int rank(Workload w) {
        return (w.getUid().contains("//Pod/") ? 2 : 0) + (w.getTunnelProtocol() == TunnelProtocol.HBONE ? 1 : 0);
    }

    /** Resource name of a service: {@code namespace/hostname}. */
    public static String name(Service s) {
        return s.getNamespace() + "/" + s.getHostname();
    }

    /** Resource name of any address resource. */
    public static String name(Address a) {
        return a.hasWorkload() ? a.getWorkload().getUid() : name(a.getService());
    }

    /**
     * A new index with {@code upserts} applied, then {@code removed} names deleted. Costs in proportion to the
     * change (see the class comment).
     */
    public WorkloadIndex with(Map<String, Address> upserts, Collection<String> removed) {
        if (upserts.isEmpty() && removed.isEmpty()) {
            return this;
        }
        Indexes ix = new Indexes(this);
        upserts.forEach(ix.resources::put);
        removed.forEach(ix.resources::remove);
        if (collisions) {
            return of(ix.resources.build(), network);
        }
        Set<String> touched = new HashSet<>(upserts.keySet());
        touched.addAll(removed);
        List<Address> gone = new ArrayList<>();
        List<Address> added = new ArrayList<>();
        for (String name : touched) {
            Address before = resources.get(name);
            Address after = ix.resources.get(name);
            if (before == after) {
                continue; // the very same resource again (or one that was never there): nothing to re-index
            }
            if (before != null) {
                gone.add(before);
            }
            if (after != null) {
                added.add(after);
            }
        }
        for (Address a : gone) {
            ix.remove(a);
        }
        for (Address a : added) {
            ix.add(a);
        }
        if (ix.collisions) {
            return of(ix.resources.build(), network); // a key now has two holders: decide as a full build does
        }
        Set<String> rearrange = ix.patchEndpoints(gone, added);
        for (Address a : gone) {
            if (a.hasService()) {
                rearrange.add(name(a.getService()));
            }
        }
        for (Address a : added) {
            if (a.hasService()) {
                rearrange.add(name(a.getService()));
            }
        }
        ix.arrange(rearrange);
        return new WorkloadIndex(ix, network);
    }

    /** An index holding exactly {@code all}, answering address lookups for the default network. */
    public static WorkloadIndex of(Map<String, Address> all) {
        return of(all, "");
    }

    /** An index holding exactly {@code all}, answering address lookups for {@code network}. */
    public static WorkloadIndex of(Map<String, Address> all, String network) {
        Indexes ix = new Indexes(all.size());
        all.forEach(ix.resources::put);
        for (Address a : all.values()) {
            ix.add(a);
        }
        ix.buildEndpoints(all.values());
        Set<String> services = new HashSet<>();
        for (Address a : all.values()) {
            if (a.hasService()) {
                services.add(name(a.getService()));
            }
        }
        ix.arrange(services);
        return new WorkloadIndex(ix, network);
    }

    /** Editors of the maps of an index under construction, and whether a key collided. */
    private static final class Indexes {
        final ShardedMap.Editor<String, Address> resources;
        final ShardedMap.Editor<String, Workload> byUid;
        final ShardedMap.Editor<NetworkIp, Workload> workloadsByIp;
        final ShardedMap.Editor<NetworkIp, Service> servicesByVip;
        final ShardedMap.Editor<String, Service> servicesByHostname;
        final ShardedMap.Editor<String, Service> servicesByName;
        final ShardedMap.Editor<String, List<Workload>> endpoints;
        final ShardedMap<String, List<Workload>> endpointsBefore;
        final ShardedMap.Editor<Service, ServiceEndpoints> arranged;
        final ShardedMap.Editor<String, ServiceEndpoints> arrangedByName;
        boolean collisions;

        /** Starting from {@code from}'s maps. */
        Indexes(WorkloadIndex from) {
            this.resources = from.resources.edit();
            this.byUid = from.byUid.edit();
            this.workloadsByIp = from.workloadsByIp.edit();
            this.servicesByVip = from.servicesByVip.edit();
            this.servicesByHostname = from.servicesByHostname.edit();
            this.servicesByName = from.servicesByName.edit();
            this.endpointsBefore = from.endpoints;
            this.endpoints = endpointsBefore.edit();
            this.arranged = from.arranged.edit();
            this.arrangedByName = from.arrangedByName.edit();
        }

        /** Empty maps, for a full build of about {@code size} resources. */
        Indexes(int size) {
            this.resources = ShardedMap.builder(size);
            this.byUid = ShardedMap.builder(size);
            this.workloadsByIp = ShardedMap.builder(size);
            this.servicesByVip = ShardedMap.builder(size / 8);
            this.servicesByHostname = ShardedMap.builder(size / 8);
            this.servicesByName = ShardedMap.builder(size / 8);
            this.endpointsBefore = ShardedMap.empty();
            this.endpoints = ShardedMap.builder(size / 8);
            this.arranged = ShardedMap.builder(size / 8);
            this.arrangedByName = ShardedMap.builder(size / 8);
        }

        void add(Address a) {
            if (a.hasWorkload()) {
                Workload w = a.getWorkload();
                put(byUid, w.getUid(), w);
                if (!byAddress(w)) {
                    return;
                }
                for (var raw : w.getAddressesList()) {
                    NetworkIp key = new NetworkIp(w.getNetwork(), ip(raw.toByteArray()));
                    Workload had = workloadsByIp.put(key, w);
                    if (had != null && had != w) {
                        collisions = true;
                        workloadsByIp.put(key, preferred(had, w));
                    }
                }
            } else if (a.hasService()) {
                Service s = a.getService();
                put(servicesByName, name(s), s);
                put(servicesByHostname, s.getHostname(), s);
                for (NetworkAddress na : s.getAddressesList()) {
                    put(servicesByVip, new NetworkIp(na.getNetwork(), ip(na.getAddress().toByteArray())), s);
                }
            }
        }

        /** Undoes {@link #add} of {@code a}, which this (collision-free) index holds. */
        void remove(Address a) {
            if (a.hasWorkload()) {
                Workload w = a.getWorkload();
                byUid.removeIfSame(w.getUid(), w);
                if (!byAddress(w)) {
                    return;
                }
                for (var raw : w.getAddressesList()) {
                    workloadsByIp.removeIfSame(new NetworkIp(w.getNetwork(), ip(raw.toByteArray())), w);
                }
            } else if (a.hasService()) {
                Service s = a.getService();
                servicesByName.removeIfSame(name(s), s);
                servicesByHostname.removeIfSame(s.getHostname(), s);
                for (NetworkAddress na : s.getAddressesList()) {
                    servicesByVip.removeIfSame(new NetworkIp(na.getNetwork(), ip(na.getAddress().toByteArray())), s);
                }
            }
        }

        private <K, V> void put(ShardedMap.Editor<K, V> map, K key, V value) {
            V had = map.put(key, value);
            if (had != null && had != value) {
                collisions = true;
            }
        }

        /** Every workload resource of {@code all} as an endpoint of the services it names. */
        void buildEndpoints(Collection<Address> all) {
            Map<String, List<Workload>> out = new HashMap<>();
            for (Address a : all) {
                if (a.hasWorkload()) {
                    for (String svc : a.getWorkload().getServicesMap().keySet()) {
                        out.computeIfAbsent(svc, k -> new ArrayList<>()).add(a.getWorkload());
                    }
                }
            }
            out.forEach((svc, list) -> endpoints.put(svc, List.copyOf(list)));
        }

        /**
         * Re-lists the endpoints of the services that {@code gone} and {@code added} workloads name; returns those
         * service names.
         */
        Set<String> patchEndpoints(List<Address> gone, List<Address> added) {
            Map<String, List<Workload>> leaving = new HashMap<>();
            Map<String, List<Workload>> joining = new HashMap<>();
            for (Address a : gone) {
                if (a.hasWorkload()) {
                    for (String svc : a.getWorkload().getServicesMap().keySet()) {
                        leaving.computeIfAbsent(svc, k -> new ArrayList<>()).add(a.getWorkload());
                    }
                }
            }
            for (Address a : added) {
                if (a.hasWorkload()) {
                    for (String svc : a.getWorkload().getServicesMap().keySet()) {
                        joining.computeIfAbsent(svc, k -> new ArrayList<>()).add(a.getWorkload());
                    }
                }
            }
            Set<String> services = new HashSet<>(leaving.keySet());
            services.addAll(joining.keySet());
            for (String svc : services) {
                List<Workload> out = new ArrayList<>(endpointsBefore.getOrDefault(svc, List.of()));
                List<Workload> left = leaving.get(svc);
                if (left != null) {
                    Set<Workload> drop = Collections.newSetFromMap(new IdentityHashMap<>());
                    drop.addAll(left);
                    out.removeIf(drop::contains);
                }
                out.addAll(joining.getOrDefault(svc, List.of()));
                if (out.isEmpty()) {
                    endpoints.remove(svc);
                } else {
                    endpoints.put(svc, List.copyOf(out));
                }
            }
            return services;
        }

        /** (Re)arranges the endpoints of the services named {@code names}, as they now are. */
        void arrange(Set<String> names) {
            for (String name : names) {
                ServiceEndpoints old = arrangedByName.get(name);
                if (old != null) {
                    arranged.removeIfSame(old.service(), old);
                }
                Service now = servicesByName.get(name);
                if (now == null) {
                    arrangedByName.remove(name);
                    continue;
                }
                List<Workload> listing = endpoints.get(name);
                ServiceEndpoints e = new ServiceEndpoints(now, listing == null ? List.of() : listing);
                arranged.put(now, e);
                arrangedByName.put(name, e);
            }
        }
    }

    public Map<String, Address> resources() {
        return resources;
    }

    public Workload workloadByUid(String uid) {
        return byUid.get(uid);
    }

    /** The workload with this address on this index's network, or without a network. */
    public Workload workloadByIp(InetAddress ip) {
        return workloadAt(network, ip);
    }

    /** The service with this VIP on this index's network, or without a network. */
    public Service serviceByVip(InetAddress ip) {
        return serviceAt(network, ip);
    }

    /** The workload with this address on {@code network}, or without a network. */
    public Workload workloadAt(String network, InetAddress ip) {
        Workload w = workloadsByIp.get(new NetworkIp(network, ip));
        return w != null || network.isEmpty() ? w : workloadsByIp.get(new NetworkIp("", ip));
    }

    /** The service with this VIP on {@code network}, or without a network. */
    public Service serviceAt(String network, InetAddress ip) {
        Service s = servicesByVip.get(new NetworkIp(network, ip));
        return s != null || network.isEmpty() ? s : servicesByVip.get(new NetworkIp("", ip));
    }

    /** The network whose addresses {@link #workloadByIp} and {@link #serviceByVip} answer for. */
    public String network() {
        return network;
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

    /**
     * Calls {@code changed} with (before, after) for each workload whose record differs (by identity) between
     * {@code before} and this index, either null when absent. For an index {@link #with} derived from
     * {@code before}, directly or over several pushes, this costs what those pushes changed (the untouched parts
     * are shared); for unrelated indexes, one look per workload.
     */
    public void forEachWorkloadChange(WorkloadIndex before, BiConsumer<Workload, Workload> changed) {
        byUid.forEachDifference(before.byUid, (uid, was, now) -> changed.accept(was, now));
    }

    public Collection<Workload> workloads() {
        return Collections.unmodifiableCollection(byUid.values());
    }

    public Collection<Service> services() {
        return Collections.unmodifiableCollection(servicesByName.values());
    }

    /**
     * Workloads scheduled on {@code node} (unmodifiable). A ztunnel asks about its own node several times per
     * snapshot (certificates, listeners, capture rules) and in-pod mode on connections whose client address is not
     * the pod's, so the last answer is kept: one pass over every workload per snapshot, not per question.
     */
    public List<Workload> workloadsOnNode(String node) {
        OnNode last = onNode;
        if (last != null && last.node().equals(node)) {
            return last.workloads();
        }
        List<Workload> out = new ArrayList<>();
        for (Workload w : byUid.values()) {
            if (node.equals(w.getNode())) {
                out.add(w);
            }
        }
        List<Workload> answer = Collections.unmodifiableList(out);
        onNode = new OnNode(node, answer); // racing threads compute the same answer: either may stay
        return answer;
    }

    private record OnNode(String node, List<Workload> workloads) {}

    private volatile OnNode onNode;

    /**
     * Whether an address lookup may find {@code w}: not for a host-network workload, whose address is its node's,
     * shared with the node itself and its other host-network pods (traffic to it is the node's, not the pod's).
     */
    public static boolean byAddress(Workload w) {
        return w.getNetworkMode() != NetworkMode.HOST_NETWORK;
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
