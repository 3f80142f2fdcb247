package io.jmesh.policy.state;

import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.core.xds.XdsTypes;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Everything discovery serves, computed from one config-log snapshot: every {@code Address} (workloads by uid,
 * services by {@code namespace/hostname}) and every {@code Authorization} (by {@code namespace/name}), with what
 * each node's ztunnel needs. Immutable; replaced whole when the log moves.
 *
 * <p>A node gets every address (its ztunnel resolves any destination) and the authorizations that can apply to
 * its own workloads: global ones, those of its workloads' namespaces, and the selector-based ones its workloads
 * list. Nothing else can change a decision it makes.
 *
 * <p>Each state carries a generation and the names of the addresses that changed in the last
 * {@value #CHANGE_LOG} generations, so a stream that was in sync with an earlier state diffs only those, and
 * finds the addresses at one {@code network/IP} for on-demand subscriptions ({@link #addressNamesAt}).
 */
public final class MeshState {

    /** How many generations of address changes a state remembers. */
    public static final int CHANGE_LOG = 32;

    public static final MeshState EMPTY = new MeshState(new TreeMap<>(), new TreeMap<>(), new TreeMap<>(), Map.of(),
            Map.of(), List.of(), Map.of(), 0, List.of(), List.of(), Map.of(),
            new AtomicBoolean(), List.of());

    /** What the workloads of one node need. */
    record NodeScope(Set<String> namespaces, Set<String> policyKeys) {}

    /** A config-log record that could not be turned into discovery resources. */
    public record Skipped(String key, String reason) {}

    /**
     * The VIPs policy allocated to the hosts of one ServiceEntry ({@code host → [IPv4, IPv6]}): those that have no
     * addresses of their own and none recorded in the entry's status; and {@code staleHosts}, hosts the entry's
     * status has addresses for but the entry no longer names. {@code source} is the entry's writer in the config log.
     */
    public record AllocatedVips(ConfigKey entry, String source, Map<String, List<String>> byHost,
            Set<String> staleHosts) {}

    /** The address names that changed (updated, added or removed) in one generation. */
    record Change(long generation, Set<String> addresses) {}

    private final NavigableMap<String, Resource> addresses;
    private final NavigableMap<String, Resource> authorizations;
    private final NavigableMap<String, Resource> globalAuthorizations;
    private final Map<String, NavigableMap<String, Resource>> authorizationsByNamespace;
    private final Map<String, NodeScope> nodes;
    private final List<Skipped> skipped;
    private final Map<Integer, Long> offsets;
    private final long generation;
    private final List<Change> changes;
    // "network/IP" → names of the addresses holding it, per namespace (shared with the builder's reused results,
    // never modified); merged into one index when first wanted, never on an event loop
    private final List<Map<String, List<String>>> ipAliasParts;
    private volatile Map<String, List<String>> ipAliases;
    // the one build of ipAliases, once asked for (reset if it failed, so a later ask retries)
    private final AtomicReference<CompletableFuture<Void>> ipIndexBuild = new AtomicReference<>();
    private Runnable ipIndexBuildHook;
    // a service's name → the names of its workloads (shared lists, never modified)
    private final Map<String, List<String>> endpoints;
    // shared by the states of one builder: set once any on-demand lookup asked, so later states are indexed before
    // they are published instead of on a worker when the first stream asks
    private final AtomicBoolean ipIndexWanted;
    private final List<AllocatedVips> allocatedVips;

    MeshState(NavigableMap<String, Resource> addresses, NavigableMap<String, Resource> authorizations,
            NavigableMap<String, Resource> globalAuthorizations,
            Map<String, NavigableMap<String, Resource>> authorizationsByNamespace, Map<String, NodeScope> nodes,
            List<Skipped> skipped, Map<Integer, Long> offsets, long generation, List<Change> changes,
            List<Map<String, List<String>>> ipAliasParts, Map<String, List<String>> endpoints,
            AtomicBoolean ipIndexWanted, List<AllocatedVips> allocatedVips) {
        this.addresses = Collections.unmodifiableNavigableMap(addresses);
        this.authorizations = Collections.unmodifiableNavigableMap(authorizations);
        this.globalAuthorizations = Collections.unmodifiableNavigableMap(globalAuthorizations);
        this.authorizationsByNamespace = Map.copyOf(authorizationsByNamespace);
        this.nodes = Map.copyOf(nodes);
        this.skipped = List.copyOf(skipped);
        this.offsets = Map.copyOf(offsets);
        this.generation = generation;
        this.changes = List.copyOf(changes);
        this.ipAliasParts = List.copyOf(ipAliasParts);
        this.endpoints = endpoints;
        this.ipIndexWanted = ipIndexWanted;
        this.allocatedVips = List.copyOf(allocatedVips);
    }

    /** Every address resource, by name. */
    public NavigableMap<String, Resource> addresses() {
        return addresses;
    }

    /** Every authorization resource, by name. */
    public NavigableMap<String, Resource> authorizations() {
        return authorizations;
    }

    /** The resources of {@code typeUrl} that {@code node}'s ztunnel needs, by name. */
    public Map<String, Resource> resourcesFor(String typeUrl, String node) {
        if (TypeUrls.ADDRESS.equals(typeUrl)) {
            return addresses;
        }
        if (!TypeUrls.AUTHORIZATION.equals(typeUrl)) {
            return Map.of();
        }
        NodeScope scope = nodes.get(node);
        if (scope == null) {
            return globalAuthorizations;
        }
        Map<String, Resource> out = new HashMap<>(globalAuthorizations);
        for (String ns : scope.namespaces()) {
            out.putAll(authorizationsByNamespace.getOrDefault(ns, Collections.emptyNavigableMap()));
        }
        for (String key : scope.policyKeys()) {
            Resource r = authorizations.get(key);
            if (r != null) {
                out.put(key, r);
            }
        }
        return out;
    }

    /**
     * The names of the addresses (workloads and services, sorted) that hold {@code ip} on {@code network}: a
     * workload address or a service VIP, the on-demand alias {@code network/IP}. The default network is the empty
     * string. Empty when none does.
     *
     * <p>Answers from the index behind it, which must be built ({@link #ipIndexReady}): a lookup never builds it, so
     * no event loop does.
     *
     * @throws IllegalStateException when the index is not built
     */
    public List<String> addressNamesAt(String network, InetAddress ip) {
        Map<String, List<String>> index = ipAliases;
        if (index == null) {
            throw new IllegalStateException("network/IP index of generation " + generation + " not built");
        }
        return index.getOrDefault(XdsTypes.ipAlias(network, ip), List.of());
    }

    /** Whether {@link #addressNamesAt} can answer (the {@code network/IP} index is built). */
    public boolean ipIndexReady() {
        return ipAliases != null;
    }

    /**
     * Has the {@code network/IP} index built on {@code executor} unless it is built or being built (once per state,
     * however many ask), and marks it wanted so the states built after this one are indexed before they are
     * published ({@link #prepareIpIndex}). The future completes on the thread that built it (at once when built).
     * Never blocks: an event loop asks with a worker executor and goes on when the future completes.
     */
    public CompletableFuture<Void> ipIndex(Executor executor) {
        ipIndexWanted.set(true);
        CompletableFuture<Void> building = ipIndexBuild.get();
        if (building != null) {
            return building;
        }
        CompletableFuture<Void> mine = new CompletableFuture<>();
        building = ipIndexBuild.compareAndExchange(null, mine);
        if (building != null) {
            return building;
        }
        try {
            executor.execute(() -> {
                try {
                    mergeIpAliases();
                    mine.complete(null);
                } catch (Throwable e) {
                    ipIndexBuild.compareAndSet(mine, null);
                    mine.completeExceptionally(e);
                    throw e;
                }
            });
        } catch (RejectedExecutionException e) {
            ipIndexBuild.compareAndSet(mine, null);
            mine.completeExceptionally(e);
        }
        return mine;
    }

    /**
     * The names of the workloads a service (by its name, {@code namespace/hostname}) selects: what an on-demand
     * lookup of the service brings along, as istiod's does (a service alone could not be routed to).
     */
    public List<String> endpointNamesOf(String serviceName) {
        return endpoints.getOrDefault(serviceName, List.of());
    }

    /**
     * Builds the {@code network/IP} index here, now, if on-demand lookups have wanted one before (the registry calls
     * it on its own thread before publishing a state: at 55,000 addresses the merge takes 25–45 ms, too long for an
     * event loop); returns at once if another thread is building it.
     */
    public void prepareIpIndex() {
        if (ipIndexWanted.get()) {
            ipIndex(Runnable::run);
        }
    }

    /** Tests: runs {@code hook} on the thread that builds the index, as it starts. Set before the state is used. */
    void onIpIndexBuild(Runnable hook) {
        ipIndexBuildHook = hook;
    }

    private void mergeIpAliases() {
        if (ipIndexBuildHook != null) {
            ipIndexBuildHook.run();
        }
        int size = 0;
        for (Map<String, List<String>> part : ipAliasParts) {
            size += part.size();
        }
        Map<String, List<String>> merged = new HashMap<>(size * 4 / 3 + 1);
        for (Map<String, List<String>> part : ipAliasParts) {
            part.forEach((alias, names) -> merged.computeIfAbsent(alias, a -> new ArrayList<>(1)).addAll(names));
        }
        // sorted, so every replica and every stream lists them alike
        merged.replaceAll((alias, names) -> names.size() == 1 ? List.of(names.get(0))
                : List.copyOf(new TreeSet<>(names)));
        ipAliases = merged;
    }

    /** This state's position in the sequence of states built by one registry (0 for {@link #EMPTY}). */
    public long generation() {
        return generation;
    }

    /**
     * The names of addresses that changed after generation {@code since} up to this state, or null when that is
     * older than this state remembers (or from another sequence): then diff everything.
     */
    public Set<String> addressesChangedSince(long since) {
        if (since == generation) {
            return Set.of();
        }
        if (since > generation || changes.isEmpty() || changes.get(0).generation() > since + 1) {
            return null;
        }
        Set<String> out = new HashSet<>();
        for (Change c : changes) {
            if (c.generation() > since) {
                out.addAll(c.addresses());
            }
        }
        return out;
    }

    /** The ServiceEntries whose hosts got VIPs from policy's allocation, each with them. */
    public List<AllocatedVips> allocatedVips() {
        return allocatedVips;
    }

    /** Records of the log that were skipped (bad content), with why. */
    public List<Skipped> skipped() {
        return skipped;
    }

    /** The config-log position this state reflects. */
    public Map<Integer, Long> offsets() {
        return offsets;
    }
}
