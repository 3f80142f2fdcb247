package io.jmesh.policy.state;

import static io.jmesh.policy.state.ServiceShapes.appProtocol;
import static io.jmesh.policy.state.ServiceShapes.canonical;
import static io.jmesh.policy.state.ServiceShapes.firstNonEmpty;
import static io.jmesh.policy.state.ServiceShapes.ip;

import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import com.google.protobuf.UInt32Value;
import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.core.configlog.ConfigSnapshot;
import io.jmesh.core.xds.XdsTypes;
import io.jmesh.policy.translate.AuthorizationTranslator;
import io.jmesh.policy.translate.LoadBalancingTranslator;
import io.jmesh.policy.translate.NetworkGateways;
import io.jmesh.policy.translate.WaypointInboundBinding;
import io.jmesh.policy.translate.WorkloadLocality;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.config.v1.EndpointSliceSpec;
import io.jmesh.proto.config.v1.PeerAuthenticationSpec;
import io.jmesh.proto.config.v1.PeerAuthenticationSpec.Mode;
import io.jmesh.proto.config.v1.ServicePort;
import io.jmesh.proto.config.v1.WorkloadEntrySpec;
import io.jmesh.proto.istio.security.Action;
import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.proto.istio.security.Clause;
import io.jmesh.proto.istio.security.Match;
import io.jmesh.proto.istio.security.Rule;
import io.jmesh.proto.istio.security.Scope;
import io.jmesh.proto.istio.security.StringMatch;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.ApplicationTunnel;
import io.jmesh.proto.istio.workload.GatewayAddress;
import io.jmesh.proto.istio.workload.Locality;
import io.jmesh.proto.istio.workload.NetworkAddress;
import io.jmesh.proto.istio.workload.NetworkMode;
import io.jmesh.proto.istio.workload.Port;
import io.jmesh.proto.istio.workload.PortList;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.TunnelProtocol;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.proto.istio.workload.WorkloadStatus;
import io.jmesh.proto.istio.workload.WorkloadType;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * Computes a {@link MeshState} from a config-log snapshot, as istiod computes ztunnel's view:
 *
 * <ul>
 *   <li>a {@code WorkloadEntry} becomes a {@code Workload} (uid {@code <cluster>/networking.istio.io/WorkloadEntry/
 *       <ns>/<name>}), listing the services that select it (target ports resolved, named ones through the
 *       entry's ports) and the selector-based policies that select it;
 *   <li>a pod also lists the Services whose EndpointSlices (of any namespace) name it by {@code targetRef}: its
 *       namespace, name and uid (a Service without a selector whose endpoints are pods), with the same target ports
 *       as a selecting Service ({@link SlicePods});
 *   <li>a {@code Service} becomes a {@code Service} named {@code <ns>/<hostname>}, with its load balancing
 *       ({@link LoadBalancingTranslator}: traffic distribution, internal traffic policy, not-ready addresses);
 *   <li>an {@code AuthorizationPolicy} becomes an {@code Authorization} ({@link AuthorizationTranslator});
 *   <li>{@code PeerAuthentication}: each workload's effective mode is its own selector policy, else its
 *       namespace's, else the mesh's (root namespace), else PERMISSIVE (DISABLE counts as PERMISSIVE); of several
 *       at one level the oldest ({@link ConfigAge}), and a root namespace's selector policy selects nothing. A STRICT
 *       workload lists {@code <root>/istio_converted_static_strict} (DENY where {@code not_principals: presence});
 *       a selector policy with port-level modes becomes {@code <ns>/converted_peer_authentication_<name>}, the same
 *       DENY limited to (or excluding) those ports, listed instead;
 *   <li>a {@code Gateway} (with its {@code GatewayClass}) gives its instances, the workloads of its namespace labelled
 *       {@value WaypointInboundBinding#GATEWAY_NAME} with its name, the {@code application_tunnel} its
 *       {@value WaypointInboundBinding#ANNOTATION} annotation asks for ({@link WaypointInboundBinding});
 *   <li>a workload is on its WorkloadEntry's network, else its namespace's ({@value NetworkGateways#LABEL}), else
 *       the cluster's (that label on the root namespace, as istiod derives it), and Service VIPs are on the
 *       cluster's network; a Gateway with that label is the network's east-west gateway: it becomes the
 *       {@code network_gateway} of every workload on the network, its own instances included
 *       ({@link NetworkGateways}).
 * </ul>
 *
 * <p>Labels used for selection are a WorkloadEntry's {@code spec.labels} and {@code metadata.labels} merged,
 * metadata first, as istiod does ({@link WorkloadEntryLabels}). A record whose content
 * cannot be translated (it bypassed validation) is skipped and reported; the rest is unaffected.
 */
public final class MeshStateBuilder {

    // whether on-demand lookups have asked this builder's states for their network/IP index (see MeshState)
    private final AtomicBoolean ipIndexWanted = new AtomicBoolean();

    public static final String STATIC_STRICT = "istio_converted_static_strict";
    static final String CONVERTED_PREFIX = "converted_peer_authentication_";
    private static final String DATAPLANE_MODE = "istio.io/dataplane-mode";
    private static final String SIDECAR_STATUS = "sidecar.istio.io/status";

    private final MeshSettings settings;
    private final ServiceShapes shapes;
    private final ServiceEntryTranslation entryTranslation;

    public MeshStateBuilder(MeshSettings settings) {
        this.settings = settings;
        this.shapes = new ServiceShapes(settings);
        this.entryTranslation = new ServiceEntryTranslation(settings, shapes);
    }

    /** What one namespace contributes, kept to be reused while its inputs stay the same objects. */
    private static final class NamespaceResult {
        final List<ConfigRecord> inputs;
        final ConfigRecord namespaceRecord;
        final List<ConfigRecord> rootInputs;
        final List<ConfigRecord> gatewayClasses;
        // other namespaces' EndpointSlices naming this one's pods, each followed by its Service (SlicePods)
        final List<ConfigRecord> foreignSlices;
        // the cluster's network when computed, and whether anything computed depends on it (a Service VIP, a
        // workload without a network of its own)
        final String clusterNetwork;
        boolean usesClusterNetwork;
        // the gateway chosen (null: none) for each network this namespace's workloads are on or its Gateways claim
        final Map<String, ConfigRecord> networkGateways = new HashMap<>();
        // the Node record (null: none) of every node this namespace's pods run on: their locality
        final Map<String, ConfigRecord> nodes = new HashMap<>();
        final TreeMap<String, Resource> addresses = new TreeMap<>();
        // "network/IP" of every workload address and service VIP → the names of the addresses holding it
        final Map<String, List<String>> ipAliases = new HashMap<>();
        // a service's name ("namespace/hostname") → its workloads' names (on demand, a service comes with them)
        final Map<String, List<String>> endpoints = new HashMap<>();
        final TreeMap<String, Resource> authorizations = new TreeMap<>();
        final Set<String> globalKeys = new LinkedHashSet<>();
        final Set<String> namespaceKeys = new LinkedHashSet<>();
        final Map<String, Set<String>> nodeKeys = new HashMap<>();
        final List<MeshState.Skipped> skipped = new ArrayList<>();
        // "namespace/host" of each ServiceEntry host wanting an allocated VIP → the VIPs it got (empty: none)
        final Map<String, List<String>> allocations = new HashMap<>();
        boolean staticStrictUsed;

        NamespaceResult(List<ConfigRecord> inputs, ConfigRecord namespaceRecord, List<ConfigRecord> rootInputs,
                List<ConfigRecord> gatewayClasses, List<ConfigRecord> foreignSlices, String clusterNetwork) {
            this.inputs = inputs;
            this.namespaceRecord = namespaceRecord;
            this.rootInputs = rootInputs;
            this.gatewayClasses = gatewayClasses;
            this.foreignSlices = foreignSlices;
            this.clusterNetwork = clusterNetwork;
        }

        boolean reusableFor(List<ConfigRecord> in, ConfigRecord ns, List<ConfigRecord> root,
                List<ConfigRecord> classes, List<ConfigRecord> foreign, NetworkGateways networks, String cluster,
                Map<String, ConfigRecord> nodeRecords, Map<String, List<String>> allocated) {
            return namespaceRecord == ns && sameObjects(inputs, in) && sameObjects(rootInputs, root)
                    && sameObjects(foreignSlices, foreign)
                    && allocations.entrySet().stream().allMatch(e -> e.getValue().equals(
                            allocated.getOrDefault(e.getKey(), List.of())))
                    && sameObjects(gatewayClasses, classes) && sameNetworkGateways(networks)
                    && nodes.entrySet().stream().allMatch(e -> nodeRecords.get(e.getKey()) == e.getValue())
                    && (!usesClusterNetwork || clusterNetwork.equals(cluster));
        }

        /** Publishes {@code w}: its address resource, its addresses' on-demand aliases, its services' endpoints. */
        void serves(Workload w) {
            addresses.put(w.getUid(), Resource.of(w.getUid(), TypeUrls.ADDRESS,
                    Address.newBuilder().setWorkload(w).build()));
            if (w.getNetworkMode() != NetworkMode.HOST_NETWORK) {
                // a shared address (a node's) is no alias of a host-network workload: ztunnel never looks it up by it
                for (ByteString ip : w.getAddressesList()) {
                    holds(w.getNetwork(), ip.toByteArray(), w.getUid());
                }
            }
            for (String service : w.getServicesMap().keySet()) {
                endpoints.computeIfAbsent(service, x -> new ArrayList<>(2)).add(w.getUid());
            }
        }

        /** Publishes service {@code s}: its address resource and its VIPs' on-demand aliases. */
        void publishes(Service s) {
            String name = XdsTypes.hostnameAlias(s.getNamespace(), s.getHostname());
            usesClusterNetwork |= s.getAddressesCount() > 0;
            addresses.put(name, Resource.of(name, TypeUrls.ADDRESS, Address.newBuilder().setService(s).build()));
            for (NetworkAddress vip : s.getAddressesList()) {
                holds(vip.getNetwork(), vip.getAddress().toByteArray(), name);
            }
        }

        /** Notes that {@code name} holds {@code ip} on {@code network} (its on-demand alias). */
        void holds(String network, byte[] ip, String name) {
            String alias;
            try {
                alias = XdsTypes.ipAlias(network, InetAddress.getByAddress(ip));
            } catch (java.net.UnknownHostException e) {
                return; // not 4 or 16 bytes: never built so
            }
            // mostly one name per address: a shared immutable list until a second one comes
            List<String> names = ipAliases.get(alias);
            if (names == null) {
                ipAliases.put(alias, List.of(name));
            } else if (!names.contains(name)) {
                List<String> more = new ArrayList<>(names);
                more.add(name);
                ipAliases.put(alias, more);
            }
        }

        /** The Node record of {@code node} (null: none), noted as an input of this namespace. */
        ConfigRecord node(String node, Map<String, ConfigRecord> nodeRecords) {
            ConfigRecord r = nodeRecords.get(node);
            nodes.put(node, r);
            return r;
        }

        /** Notes that this namespace depends on the gateway of {@code network} (the default one has none). */
        void usesNetwork(String network, NetworkGateways networks) {
            if (!network.isEmpty()) {
                networkGateways.put(network, networks.gatewayOf(network));
            }
        }

        private boolean sameNetworkGateways(NetworkGateways networks) {
            for (Map.Entry<String, ConfigRecord> e : networkGateways.entrySet()) {
                if (networks.gatewayOf(e.getKey()) != e.getValue()) {
                    return false;
                }
            }
            return true;
        }
    }

    // the previous build's per-namespace results; builds are serialized by the caller
    private Map<String, NamespaceResult> previous = Map.of();
    // the previous build's merged addresses: copied (linear, no comparisons) and patched where namespaces changed
    private NavigableMap<String, Resource> previousAddresses = new TreeMap<>();
    private long generation;
    private List<MeshState.Change> changeLog = List.of();

    /**
     * Builds the state; {@code onSkipped} hears about each record that could not be used (once, when its
     * namespace is computed). Namespaces whose records (and the root namespace's policies, their Gateways'
     * classes, the gateways of the networks they use, the cluster's network if they use it) are the very same
     * objects as in the previous build are reused, so a change costs in proportion to its namespace.
     * Not thread-safe: one builder per registry, builds in sequence.
     */
    public synchronized MeshState build(ConfigSnapshot snapshot, Consumer<MeshState.Skipped> onSkipped) {
        Map<String, ConfigRecord> namespaces = new HashMap<>();
        Map<String, ConfigRecord> nodeRecords = new HashMap<>();
        Map<String, ConfigRecord> gatewayClasses = new HashMap<>();
        Map<String, List<ConfigRecord>> byNs = new TreeMap<>();
        List<ConfigRecord> gateways = new ArrayList<>();
        // in key order: a kind's records by namespace, then name, the order that decides between network gateways
        for (ConfigRecord r : snapshot.records().values()) {
            if (PlacedOnlyPods.placedOnly(r)) {
                // scheduled, no address yet: the ca's alone, no input of discovery (its writes recompute nothing)
                continue;
            }
            switch (r.getKind()) {
                case "Namespace" -> namespaces.put(r.getMetadata().getName(), r);
                case "Node" -> nodeRecords.put(r.getMetadata().getName(), r);
                case "GatewayClass" -> gatewayClasses.put(r.getMetadata().getName(), r);
                default -> {
                    byNs.computeIfAbsent(r.getMetadata().getNamespace(), n -> new ArrayList<>()).add(r);
                    if ("Gateway".equals(r.getKind())) {
                        gateways.add(r);
                    }
                }
            }
        }
        String root = settings.rootNamespace();
        List<ConfigRecord> rootInputs = new ArrayList<>();
        for (ConfigRecord r : byNs.getOrDefault(root, List.of())) {
            if ("AuthorizationPolicy".equals(r.getKind()) || "PeerAuthentication".equals(r.getKind())) {
                rootInputs.add(r);
            }
        }
        RootScope rootScope = null;
        // another: VIPs for ServiceEntry hosts without addresses, allocated across namespaces
        List<ConfigRecord> entries = new ArrayList<>();
        byNs.values().forEach(rs -> rs.stream().filter(r -> r.getSpecCase() == ConfigRecord.SpecCase.SERVICE_ENTRY)
                .forEach(entries::add));
        List<MeshState.Skipped> unallocated = new ArrayList<>();
        Map<String, List<String>> allocated = VipAllocation.allocate(entries, unallocated::add);
        unallocated.forEach(onSkipped);
        // a cross-namespace input: each namespace result remembers the gateways of the networks it uses
        NetworkGateways networks = NetworkGateways.choose(gateways);
        // another: the namespaces with Service VIPs or workloads without a network of their own depend on it
        String clusterNetwork = NetworkGateways.clusterNetwork(namespaces.get(root));
        // another: slices naming pods of other namespaces, which get the slices' Services (as in istiod)
        Map<String, List<ConfigRecord>> foreignSlices = SlicePods.foreignInputs(byNs);

        Map<String, NamespaceResult> results = new HashMap<>();
        Set<String> changedAddresses = new java.util.HashSet<>();
        TreeMap<String, Resource> addresses = new TreeMap<>(previousAddresses);
        for (Map.Entry<String, List<ConfigRecord>> e : byNs.entrySet()) {
            String ns = e.getKey();
            NamespaceResult old = previous.get(ns);
            List<ConfigRecord> classes = classesOf(e.getValue(), gatewayClasses);
            List<ConfigRecord> foreign = foreignSlices.getOrDefault(ns, List.of());
            if (old != null && old.reusableFor(e.getValue(), namespaces.get(ns), rootInputs, classes, foreign,
                    networks, clusterNetwork, nodeRecords, allocated)) {
                results.put(ns, old);
                continue;
            }
            if (rootScope == null) {
                rootScope = new RootScope(rootInputs);
            }
            NamespaceResult fresh = computeNamespace(ns, e.getValue(), namespaces.get(ns), rootInputs, rootScope,
                    classes, gatewayClasses, foreign, networks, clusterNetwork, nodeRecords, allocated);
            fresh.skipped.forEach(onSkipped);
            results.put(ns, fresh);
            diff(old == null ? Map.of() : old.addresses, fresh.addresses, changedAddresses);
            if (old != null) {
                old.addresses.keySet().forEach(addresses::remove);
            }
            addresses.putAll(fresh.addresses);
        }
        for (Map.Entry<String, NamespaceResult> gone : previous.entrySet()) {
            if (!results.containsKey(gone.getKey())) {
                changedAddresses.addAll(gone.getValue().addresses.keySet());
                gone.getValue().addresses.keySet().forEach(addresses::remove);
            }
        }
        previous = results;
        previousAddresses = addresses;

        TreeMap<String, Resource> authorizations = new TreeMap<>();
        TreeMap<String, Resource> global = new TreeMap<>();
        Map<String, NavigableMap<String, Resource>> byNamespace = new HashMap<>();
        Map<String, Set<String>> nodeNamespaces = new HashMap<>();
        Map<String, Set<String>> nodeKeys = new HashMap<>();
        List<MeshState.Skipped> skipped = new ArrayList<>(unallocated);
        boolean staticStrictUsed = false;
        for (Map.Entry<String, NamespaceResult> e : new TreeMap<>(results).entrySet()) {
            NamespaceResult r = e.getValue();
            authorizations.putAll(r.authorizations);
            r.globalKeys.forEach(k -> global.put(k, r.authorizations.get(k)));
            if (!r.namespaceKeys.isEmpty()) {
                TreeMap<String, Resource> nsScoped = new TreeMap<>();
                r.namespaceKeys.forEach(k -> nsScoped.put(k, r.authorizations.get(k)));
                byNamespace.put(e.getKey(), nsScoped);
            }
            r.nodeKeys.forEach((node, keys) -> {
                nodeNamespaces.computeIfAbsent(node, n -> new LinkedHashSet<>()).add(e.getKey());
                nodeKeys.computeIfAbsent(node, n -> new LinkedHashSet<>()).addAll(keys);
            });
            skipped.addAll(r.skipped);
            staticStrictUsed |= r.staticStrictUsed;
        }
        if (staticStrictUsed) {
            Authorization strict = strictDeny(root, STATIC_STRICT, List.of(), List.of());
            String key = root + "/" + STATIC_STRICT;
            authorizations.put(key, Resource.of(key, TypeUrls.AUTHORIZATION, strict));
        }
        Map<String, MeshState.NodeScope> nodes = new HashMap<>();
        nodeNamespaces.forEach((node, nss) -> nodes.put(node,
                new MeshState.NodeScope(Set.copyOf(nss), Set.copyOf(nodeKeys.getOrDefault(node, Set.of())))));

        generation++;
        List<MeshState.Change> log = new ArrayList<>(changeLog);
        log.add(new MeshState.Change(generation, Set.copyOf(changedAddresses)));
        if (log.size() > MeshState.CHANGE_LOG) {
            log = log.subList(log.size() - MeshState.CHANGE_LOG, log.size());
        }
        changeLog = List.copyOf(log);
        List<Map<String, List<String>>> ipAliases = new ArrayList<>(results.size());
        Map<String, List<String>> endpoints = new HashMap<>();
        for (NamespaceResult r : new TreeMap<>(results).values()) {
            ipAliases.add(r.ipAliases);
            // a Service selects the workloads of its own namespace, but a slice may name pods of others: merged
            r.endpoints.forEach((service, names) -> endpoints.merge(service, names, (a, b) -> {
                List<String> both = new ArrayList<>(a);
                both.addAll(b);
                return both;
            }));
        }
        return new MeshState(addresses, authorizations, global, byNamespace, nodes, skipped, snapshot.offsets(),
                generation, changeLog, ipAliases, endpoints, ipIndexWanted, VipAllocation.byEntry(entries, allocated));
    }

    private static void diff(Map<String, Resource> before, Map<String, Resource> after, Set<String> changed) {
        after.forEach((name, r) -> {
            Resource old = before.get(name);
            if (old == null || !old.version().equals(r.version())) {
                changed.add(name);
            }
        });
        before.keySet().forEach(name -> {
            if (!after.containsKey(name)) {
                changed.add(name);
            }
        });
    }

    /**
     * The GatewayClass of each Gateway among a namespace's records, null where it does not exist: what its gateway
     * bindings depend on outside the namespace, so a class created, changed or deleted recomputes the namespaces
     * that use it.
     */
    private static List<ConfigRecord> classesOf(List<ConfigRecord> records, Map<String, ConfigRecord> classes) {
        List<ConfigRecord> out = new ArrayList<>();
        for (ConfigRecord r : records) {
            if ("Gateway".equals(r.getKind())) {
                out.add(classes.get(r.getGateway().getGatewayClassName()));
            }
        }
        return out;
    }

    private static boolean sameObjects(List<ConfigRecord> a, List<ConfigRecord> b) {
        if (a.size() != b.size()) {
            return false;
        }
        for (int i = 0; i < a.size(); i++) {
            if (a.get(i) != b.get(i)) {
                return false;
            }
        }
        return true;
    }

    /** Inputs from the root namespace that reach every namespace: selector policies and the mesh-wide mode. */
    private final class RootScope {
        final SelectorIndex<ConfigRecord> selectorPolicies = new SelectorIndex<>(
                p -> p.getAuthorizationPolicy().getSelector().getMatchLabelsMap());
        final ConfigRecord meshPeerAuthentication;
        // the same for the root namespace's own workloads: istiod fetches a root policy for another namespace's
        // workload only when it has no selector at all, for the root's own also when its selector is empty
        final ConfigRecord rootPeerAuthentication;

        RootScope(List<ConfigRecord> rootInputs) {
            ConfigRecord mesh = null;
            ConfigRecord inRoot = null;
            for (ConfigRecord r : rootInputs) {
                if ("PeerAuthentication".equals(r.getKind())) {
                    if (r.getPeerAuthentication().getSelector().getMatchLabelsCount() == 0) {
                        // of several, the oldest, as istiod picks
                        inRoot = ConfigAge.older(inRoot, r);
                        if (!r.getPeerAuthentication().hasSelector()) {
                            mesh = ConfigAge.older(mesh, r);
                        }
                    }
                } else if (r.getAuthorizationPolicy().hasSelector()
                        && r.getAuthorizationPolicy().getSelector().getMatchLabelsCount() > 0
                        && r.getAuthorizationPolicy().getTargetRefsCount() == 0) {
                    selectorPolicies.add(r);
                }
            }
            this.meshPeerAuthentication = mesh;
            this.rootPeerAuthentication = inRoot;
        }
    }

    private NamespaceResult computeNamespace(String ns, List<ConfigRecord> records, ConfigRecord namespaceRecord,
            List<ConfigRecord> rootInputs, RootScope rootScope, List<ConfigRecord> classInputs,
            Map<String, ConfigRecord> gatewayClasses, List<ConfigRecord> foreignSlices, NetworkGateways networks,
            String clusterNetwork, Map<String, ConfigRecord> nodes, Map<String, List<String>> allocated) {
        NamespaceResult out = new NamespaceResult(records, namespaceRecord, rootInputs, classInputs, foreignSlices,
                clusterNetwork);
        SelectorIndex<ConfigRecord> services = new SelectorIndex<>(r -> r.getService().getSelectorMap());
        SelectorIndex<ConfigRecord> selectorPolicies = new SelectorIndex<>(
                p -> p.getAuthorizationPolicy().getSelector().getMatchLabelsMap());
        List<ConfigRecord> peerAuthentications = new ArrayList<>();
        Map<String, ApplicationTunnel> tunnels = new HashMap<>();
        Map<String, ConfigRecord> servicesByName = new HashMap<>();
        List<ConfigRecord> serviceEntries = new ArrayList<>();
        for (ConfigRecord r : records) {
            switch (r.getKind()) {
                case "Service" -> {
                    services.add(r);
                    servicesByName.put(r.getMetadata().getName(), r);
                }
                case "ServiceEntry" -> serviceEntries.add(r);
                case "PeerAuthentication" -> peerAuthentications.add(r);
                case "Gateway" -> {
                    try {
                        ApplicationTunnel t = WaypointInboundBinding.forGateway(r,
                                gatewayClasses.get(r.getGateway().getGatewayClassName()));
                        if (t != null) {
                            tunnels.put(r.getMetadata().getName(), t);
                        }
                    } catch (IllegalArgumentException e) {
                        // its instances are served without a tunnel, as istiod ignores a bad value
                        out.skipped.add(new MeshState.Skipped(ConfigKey.of(r).toString(),
                                "untranslatable: " + e.getMessage()));
                    }
                    out.usesNetwork(NetworkGateways.claimedNetwork(r), networks);
                    String notChosen = networks.whyNotChosen(r);
                    if (notChosen != null) {
                        out.skipped.add(new MeshState.Skipped(ConfigKey.of(r).toString(), notChosen));
                    }
                }
                case "AuthorizationPolicy" -> {
                    try {
                        AuthorizationTranslator.Translation t =
                                AuthorizationTranslator.translate(r, settings.rootNamespace());
                        // enforced the strict way (never skipped: a skipped DENY fails open), and reported
                        for (String field : t.rejected()) {
                            out.skipped.add(new MeshState.Skipped(ConfigKey.of(r).toString(), "invalid value, "
                                    + (t.authorization().getAction() == Action.DENY
                                            ? "the DENY rule denies without this field: "
                                            : "the ALLOW rule is dropped: ") + field));
                        }
                        Authorization a = t.authorization();
                        if (a == null) {
                            continue;
                        }
                        String key = a.getNamespace() + "/" + a.getName();
                        out.authorizations.put(key, Resource.of(key, TypeUrls.AUTHORIZATION, a));
                        switch (a.getScope()) {
                            case GLOBAL -> out.globalKeys.add(key);
                            case NAMESPACE -> out.namespaceKeys.add(key);
                            default -> {
                                if (!ns.equals(settings.rootNamespace())) {
                                    selectorPolicies.add(r); // root ones come through rootScope
                                }
                            }
                        }
                    } catch (RuntimeException e) {
                        out.skipped.add(new MeshState.Skipped(ConfigKey.of(r).toString(),
                                "untranslatable: " + e.getMessage()));
                    }
                }
                default -> { }
            }
        }
        SlicePods slicePods = new SlicePods(ns, records, servicesByName, foreignSlices);
        PeerAuthentications peerAuth = new PeerAuthentications(ns.equals(settings.rootNamespace())
                ? rootScope.rootPeerAuthentication : rootScope.meshPeerAuthentication, peerAuthentications);
        EntryHosts entryHosts = new EntryHosts(
                servicesByName.values().stream().map(shapes::hostname).collect(java.util.stream.Collectors.toSet()),
                serviceEntries, out.skipped::add);
        for (ConfigRecord record : records) {
            // selected by its metadata labels too, as istiod selects a WorkloadEntry
            ConfigRecord r = WorkloadEntryLabels.merged(record);
            try {
                if (r.getSpecCase() == ConfigRecord.SpecCase.WORKLOAD_ENTRY) { // a WorkloadEntry or a Pod
                    WorkloadEntrySpec spec = r.getWorkloadEntry();
                    List<String> keys = policyKeys(ns, spec.getLabelsMap(), selectorPolicies, rootScope, peerAuth, out);
                    String network = NetworkGateways.networkOf(spec, namespaceRecord, clusterNetwork);
                    out.usesClusterNetwork |= NetworkGateways.onClusterNetwork(spec, namespaceRecord);
                    out.usesNetwork(network, networks);
                    // a pod runs where its node is (istiod reads the node's topology labels)
                    ConfigRecord node = "Pod".equals(r.getKind()) && !spec.getNode().isEmpty()
                            ? out.node(spec.getNode(), nodes) : null;
                    Workload w = workload(r, namespaceRecord,
                            slicePods.servicesOf(r, services.selecting(spec.getLabelsMap())),
                            entryHosts.selecting(spec.getLabelsMap()), keys, tunnels, network,
                            networks.addressOf(network), node);
                    out.serves(w);
                    if (!spec.getNode().isEmpty()) {
                        out.nodeKeys.computeIfAbsent(spec.getNode(), n -> new LinkedHashSet<>()).addAll(keys);
                    }
                } else if (r.getSpecCase() == ConfigRecord.SpecCase.ENDPOINT_SLICE) {
                    ConfigRecord service = servicesByName.get(r.getEndpointSlice().getService());
                    if (service != null) { // a slice of no registered Service routes nothing, as in istiod
                        out.usesClusterNetwork = true;
                        sliceWorkloads(r, service, clusterNetwork).forEach(out::serves);
                    }
                } else if ("Service".equals(r.getKind())) {
                    out.publishes(service(r, namespaceRecord, clusterNetwork));
                } else if (r.getSpecCase() == ConfigRecord.SpecCase.SERVICE_ENTRY) {
                    List<String> hosts = entryHosts.of(r);
                    for (String host : VipAllocation.wanting(r)) {
                        String key = ns + "/" + host;
                        out.allocations.put(key, allocated.getOrDefault(key, List.of()));
                    }
                    for (String host : hosts) {
                        out.publishes(entryTranslation.service(r, host, namespaceRecord, clusterNetwork,
                                allocated.getOrDefault(ns + "/" + host, List.of())));
                    }
                    out.usesClusterNetwork = true;
                    List<String> keys = policyKeys(ns, r.getMetadata().getLabelsMap(), selectorPolicies, rootScope,
                            peerAuth, out);
                    for (WorkloadEntrySpec endpoint : ServiceEntryTranslation.endpoints(r.getServiceEntry(),
                            hosts)) {
                        String network = NetworkGateways.networkOf(endpoint, namespaceRecord, clusterNetwork);
                        out.usesNetwork(network, networks);
                        out.serves(entryTranslation.workload(r, endpoint, hosts, keys, network,
                                networks.addressOf(network)));
                    }
                }
            } catch (RuntimeException e) {
                out.skipped.add(new MeshState.Skipped(ConfigKey.of(r).toString(), "untranslatable: "
                        + e.getMessage()));
            }
        }
        peerAuth.converted().forEach((key, a) ->
                out.authorizations.put(key, Resource.of(key, TypeUrls.AUTHORIZATION, a)));
        return out;
    }

    /** The selector policies (the namespace's and the root's) and the PeerAuthentication key of {@code labels}. */
    private List<String> policyKeys(String ns, Map<String, String> labels, SelectorIndex<ConfigRecord> selectorPolicies,
            RootScope rootScope, PeerAuthentications peerAuth, NamespaceResult out) {
        List<String> keys = new ArrayList<>();
        for (ConfigRecord p : selectorPolicies.selecting(labels)) {
            keys.add(p.getMetadata().getNamespace() + "/" + p.getMetadata().getName());
        }
        for (ConfigRecord p : rootScope.selectorPolicies.selecting(labels)) {
            keys.add(p.getMetadata().getNamespace() + "/" + p.getMetadata().getName());
        }
        String peerKey = peerAuth.policyKeyFor(ns, labels, settings.rootNamespace());
        if (peerKey != null) {
            keys.add(peerKey);
            out.staticStrictUsed |= peerKey.endsWith("/" + STATIC_STRICT);
        }
        return keys;
    }

    static boolean selects(Map<String, String> selector, Map<String, String> labels) {
        if (selector.isEmpty()) {
            return false;
        }
        for (Map.Entry<String, String> e : selector.entrySet()) {
            if (!e.getValue().equals(labels.get(e.getKey()))) {
                return false;
            }
        }
        return true;
    }

    /**
     * @param tunnels the application tunnel of each Gateway of the namespace that asks for one, by name
     * @param network the workload's network ({@link NetworkGateways#networkOf})
     * @param networkGateway that network's east-west gateway; null when it has none
     */
    private Workload workload(ConfigRecord r, ConfigRecord namespace, List<ConfigRecord> services,
            List<EntryHosts.Selected> entries, List<String> policyKeys, Map<String, ApplicationTunnel> tunnels,
            String network, GatewayAddress networkGateway, ConfigRecord node) {
        WorkloadEntrySpec spec = r.getWorkloadEntry();
        String ns = r.getMetadata().getNamespace();
        String name = r.getMetadata().getName();
        Map<String, String> labels = spec.getLabelsMap();
        // istiod's uids: <cluster>//Pod/<ns>/<name>, <cluster>/networking.istio.io/WorkloadEntry/<ns>/<name>
        String uid = "Pod".equals(r.getKind()) ? settings.clusterId() + "//Pod/" + ns + "/" + name
                : settings.clusterId() + "/networking.istio.io/WorkloadEntry/" + ns + "/" + name;
        String workloadName = spec.getWorkloadName().isEmpty() ? name : spec.getWorkloadName();
        Workload.Builder w = Workload.newBuilder()
                .setUid(uid)
                .setName(name).setNamespace(ns)
                .addAddresses(ByteString.copyFrom(ip(spec.getAddress())))
                .setNetwork(network)
                .setTrustDomain(settings.trustDomain())
                .setServiceAccount(spec.getServiceAccount().isEmpty() ? "default" : spec.getServiceAccount())
                .setNode(spec.getNode())
                .setWorkloadType(WorkloadType.POD)
                .setWorkloadName(workloadName)
                .setClusterId(settings.clusterId())
                .setStatus(spec.getHealth() == WorkloadEntrySpec.Health.UNHEALTHY ? WorkloadStatus.UNHEALTHY
                        : WorkloadStatus.HEALTHY)
                .addAllAuthorizationPolicies(policyKeys);
        canonical(w, labels, workloadName);
        for (String other : spec.getAdditionalAddressesList()) {
            w.addAddresses(ByteString.copyFrom(ip(other)));
        }
        if (spec.getHostNetwork()) {
            // its address is its node's, shared with the node and other such pods; nothing captures it (neither
            // ztunnel's rules nor a CNI touch the host's network), so it takes plain TCP whatever its namespace says
            w.setNetworkMode(NetworkMode.HOST_NETWORK);
        } else if (ambient(labels, r, namespace)) {
            w.setTunnelProtocol(TunnelProtocol.HBONE);
        }
        ApplicationTunnel tunnel = tunnels.get(firstNonEmpty(labels.get(WaypointInboundBinding.GATEWAY_NAME),
                r.getMetadata().getLabelsMap().get(WaypointInboundBinding.GATEWAY_NAME)));
        if (tunnel != null) {
            w.setApplicationTunnel(tunnel);
        }
        if (networkGateway != null) {
            w.setNetworkGateway(networkGateway);
        }
        if (spec.getWeight() > 0) {
            w.setCapacity(UInt32Value.of(spec.getWeight()));
        }
        Locality locality = WorkloadLocality.of(spec, node == null ? Map.of() : node.getMetadata().getLabelsMap());
        if (locality != null) {
            w.setLocality(locality);
        }
        GatewayAddress waypoint = shapes.waypoint(labels, r.getMetadata().getLabelsMap(), Map.of(), ns);
        if (waypoint != null) {
            w.setWaypoint(waypoint);
        }
        for (ConfigRecord s : services) {
            PortList.Builder ports = PortList.newBuilder();
            for (ServicePort p : s.getService().getPortsList()) {
                int target = switch (p.getTargetPortCase()) {
                    case TARGET_PORT_NUMBER -> p.getTargetPortNumber();
                    case TARGET_PORT_NAME -> spec.getPortsMap().getOrDefault(p.getTargetPortName(), 0);
                    case TARGETPORT_NOT_SET -> p.getPort();
                };
                if (target == 0) {
                    continue; // a named port this workload does not declare: not reachable through it
                }
                ports.addPorts(Port.newBuilder().setServicePort(p.getPort()).setTargetPort(target)
                        .setAppProtocol(appProtocol(p.getAppProtocol())));
            }
            w.putServices(s.getMetadata().getNamespace() + "/" + shapes.hostname(s), ports.build());
        }
        for (EntryHosts.Selected e : entries) {
            // as istiod: a WorkloadEntry's ports of the entry ports' names give its ports, a pod's are not looked at
            PortList ports = ServiceEntryTranslation.ports(e.entry().getServiceEntry(),
                    "Pod".equals(r.getKind()) ? Map.of() : spec.getPortsMap());
            for (String host : e.hosts()) {
                w.putServices(ns + "/" + host, ports);
            }
        }
        return w.build();
    }

    /** Whether a pod or WorkloadEntry is captured by ztunnel: its own dataplane-mode label, else its namespace's. */
    private static boolean ambient(Map<String, String> labels, ConfigRecord r, ConfigRecord namespace) {
        if (r.getMetadata().getAnnotationsMap().containsKey(SIDECAR_STATUS)) {
            // a pod with Istio's sidecar is in the mesh through it: its traffic is not ztunnel's to capture, as
            // istiod leaves such pods out of ambient (migration: sidecars and ambient side by side); a sidecar
            // that accepts HBONE on 15008 says so with networking.istio.io/tunnel: http
            return "http".equals(labels.get(ServiceShapes.SIDECAR_TUNNEL));
        }
        String own = firstNonEmpty(labels.get(DATAPLANE_MODE), r.getMetadata().getLabelsMap().get(DATAPLANE_MODE), "");
        if (!own.isEmpty()) {
            return "ambient".equals(own);
        }
        return namespace != null && "ambient".equals(namespace.getMetadata().getLabelsMap().get(DATAPLANE_MODE));
    }

    /**
     * The workloads of an EndpointSlice's endpoints that are not pods, as istiod builds them: one per endpoint, uid
     * {@code <cluster>/discovery.k8s.io/EndpointSlice/<ns>/<slice>/<first address>}, named after the slice, plain TCP
     * and {@code HOST_NETWORK} (nothing is known of what is at the address, which may be shared), on the cluster's
     * network, an endpoint of {@code service} on the ports the slice names (a Service port is served by the slice
     * port of its name).
     */
    private List<Workload> sliceWorkloads(ConfigRecord slice, ConfigRecord service, String clusterNetwork) {
        EndpointSliceSpec spec = slice.getEndpointSlice();
        String ns = slice.getMetadata().getNamespace();
        PortList.Builder ports = PortList.newBuilder();
        for (ServicePort p : service.getService().getPortsList()) {
            Integer target = spec.getPortsMap().get(p.getName());
            if (target != null && !"UDP".equals(p.getProtocol()) && !"SCTP".equals(p.getProtocol())) {
                ports.addPorts(Port.newBuilder().setServicePort(p.getPort()).setTargetPort(target)
                        .setAppProtocol(appProtocol(p.getAppProtocol())));
            }
        }
        PortList portList = ports.build();
        String serviceName = ns + "/" + shapes.hostname(service);
        List<Workload> out = new ArrayList<>(spec.getEndpointsCount());
        Set<String> seen = new HashSet<>();
        for (EndpointSliceSpec.SliceEndpoint e : spec.getEndpointsList()) {
            String key = e.getAddresses(0);
            if (!seen.add(key)) {
                continue; // one address twice in a slice: one workload (its uid must be unique)
            }
            Workload.Builder w = Workload.newBuilder()
                    .setUid(settings.clusterId() + "/discovery.k8s.io/EndpointSlice/" + ns + "/"
                            + slice.getMetadata().getName() + "/" + key)
                    .setName(slice.getMetadata().getName()).setNamespace(ns)
                    .setNetwork(clusterNetwork)
                    .setTrustDomain(settings.trustDomain())
                    .setNetworkMode(NetworkMode.HOST_NETWORK)
                    .setClusterId(settings.clusterId())
                    .setStatus(e.getReady() ? WorkloadStatus.HEALTHY : WorkloadStatus.UNHEALTHY)
                    .putServices(serviceName, portList);
            for (String a : e.getAddressesList()) {
                w.addAddresses(ByteString.copyFrom(ip(a)));
            }
            out.add(w.build());
        }
        return out;
    }

    /** @param clusterNetwork the network of the Service's VIPs: the cluster's, as istiod sets it */
    private Service service(ConfigRecord r, ConfigRecord namespace, String clusterNetwork) {
        var spec = r.getService();
        String ns = r.getMetadata().getNamespace();
        Service.Builder s = Service.newBuilder().setName(r.getMetadata().getName()).setNamespace(ns)
                .setHostname(shapes.hostname(r));
        for (ServicePort p : spec.getPortsList()) {
            int target = switch (p.getTargetPortCase()) {
                case TARGET_PORT_NUMBER -> p.getTargetPortNumber();
                case TARGET_PORT_NAME -> 0; // resolved per endpoint
                case TARGETPORT_NOT_SET -> p.getPort();
            };
            s.addPorts(Port.newBuilder().setServicePort(p.getPort()).setTargetPort(target)
                    .setAppProtocol(appProtocol(p.getAppProtocol())));
        }
        return shapes.withVipsWaypointAndBalancing(s, spec.getClusterIpsList(), r, namespace, clusterNetwork);
    }

    static Authorization strictDeny(String ns, String name, List<Integer> onlyPorts, List<Integer> exceptPorts) {
        Match.Builder m = Match.newBuilder()
                .addNotPrincipals(StringMatch.newBuilder().setPresence(Empty.getDefaultInstance()))
                .addAllDestinationPorts(onlyPorts).addAllNotDestinationPorts(exceptPorts);
        return Authorization.newBuilder().setName(name).setNamespace(ns).setScope(Scope.WORKLOAD_SELECTOR)
                .setAction(Action.DENY)
                .addRules(Rule.newBuilder().addClauses(Clause.newBuilder().addMatches(m))).build();
    }

    /** PeerAuthentication resolution: effective mode per workload, and the converted policies it needs. */
    private final class PeerAuthentications {
        private final ConfigRecord mesh;
        private final Map<String, ConfigRecord> namespaceWide = new HashMap<>();
        private final Map<String, List<ConfigRecord>> selectors = new HashMap<>();
        private final TreeMap<String, Authorization> converted = new TreeMap<>();

        /** @param meshWide the root namespace's policy without selector; @param all this namespace's policies */
        PeerAuthentications(ConfigRecord meshWide, List<ConfigRecord> all) {
            // of several policies at one level the oldest applies, as in istiod (then the first by name)
            for (ConfigRecord r : all) {
                String ns = r.getMetadata().getNamespace();
                if (ns.equals(settings.rootNamespace())) {
                    // its policy without selector is the mesh's (meshWide); one with a selector selects nothing, not
                    // even this namespace's workloads, as in istiod (a PERMISSIVE one must not loosen a STRICT mesh)
                    continue;
                }
                PeerAuthenticationSpec spec = r.getPeerAuthentication();
                if (spec.getSelector().getMatchLabelsCount() > 0) {
                    selectors.computeIfAbsent(ns, n -> new ArrayList<>()).add(r);
                } else {
                    namespaceWide.merge(ns, r, ConfigAge::older);
                }
            }
            selectors.values().forEach(l -> l.sort(ConfigAge.OLDEST_FIRST)); // the first that selects is the oldest
            this.mesh = meshWide;
        }

        /** The converted policy key the workload must list, or null when nothing is enforced (PERMISSIVE). */
        String policyKeyFor(String ns, Map<String, String> labels, String root) {
            ConfigRecord own = null;
            for (ConfigRecord r : selectors.getOrDefault(ns, List.of())) {
                if (selects(r.getPeerAuthentication().getSelector().getMatchLabelsMap(), labels)) {
                    own = r;
                    break;
                }
            }
            Mode inherited = effective(mode(namespaceWide.get(ns)), mode(mesh));
            Mode base = own == null ? inherited : effective(mode(own), inherited);
            List<Integer> only = new ArrayList<>();
            List<Integer> except = new ArrayList<>();
            if (own != null) {
                new TreeMap<>(own.getPeerAuthentication().getPortLevelMtlsMap()).forEach((port, m) -> {
                    if (m.getMode() == Mode.UNSET) {
                        return; // the port keeps the workload's mode (istiod skips it)
                    }
                    boolean strict = m.getMode() == Mode.STRICT;
                    if (base == Mode.STRICT && !strict) {
                        except.add(port);
                    } else if (base != Mode.STRICT && strict) {
                        only.add(port);
                    }
                });
            }
            if (!except.isEmpty() && own.getPeerAuthentication().getMtls().getMode() == Mode.UNSET
                    && own.getPeerAuthentication().getPortLevelMtlsMap().values().stream()
                            .noneMatch(m -> m.getMode() == Mode.PERMISSIVE)) {
                // STRICT inherited: istiod opens ports only when one is PERMISSIVE (then its DISABLE ones too); a
                // DISABLE port alone leaves the workload STRICT on every port, so it stays so here
                except.clear();
            }
            if (only.isEmpty() && except.isEmpty()) {
                // no port differs from the workload's mode
                return base == Mode.STRICT ? root + "/" + STATIC_STRICT : null;
            }
            String name = CONVERTED_PREFIX + own.getMetadata().getName();
            String key = ns + "/" + name;
            converted.computeIfAbsent(key, k -> strictDeny(ns, name, only, except));
            return key;
        }

        Map<String, Authorization> converted() {
            return converted;
        }

        private Mode mode(ConfigRecord r) {
            if (r == null) {
                return Mode.UNSET;
            }
            Mode m = r.getPeerAuthentication().getMtls().getMode();
            return m == Mode.DISABLE ? Mode.PERMISSIVE : m;
        }

        private Mode effective(Mode own, Mode parent) {
            Mode m = own == Mode.UNSET ? parent : own;
            return m == Mode.UNSET ? Mode.PERMISSIVE : m;
        }
    }
}
