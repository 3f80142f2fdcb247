package io.jmesh.ztunnel.discovery;

import io.jmesh.proto.istio.workload.LoadBalancing;
import io.jmesh.proto.istio.workload.LoadBalancing.Scope;
import io.jmesh.proto.istio.workload.Port;
import io.jmesh.proto.istio.workload.PortList;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.proto.istio.workload.WorkloadStatus;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.random.RandomGenerator;

/**
 * The endpoints of one service in one {@link WorkloadIndex} snapshot, arranged for the per-connection choice that
 * Istio's {@code Service.load_balancing} describes (ztunnel's endpoint selection):
 *
 * <ol>
 *   <li><b>eligible</b>: workloads listing the service, with an address or a hostname (resolved by the proxy when
 *       it connects; a waypoint is chosen among those with an address only), healthy unless the health policy is
 *       {@code ALLOW_ALL}, and serving the requested service port (a port whose target is 0 — a named port — only
 *       on endpoints that resolve it in their own port list);
 *   <li><b>ranked</b> (mode {@code FAILOVER} or {@code STRICT}): an endpoint's rank is how many leading
 *       {@code routing_preference} scopes it shares with the source workload (REGION, ZONE, SUBZONE from
 *       {@code locality}; NODE; CLUSTER from {@code cluster_id}; NETWORK); equal strings match, so two empty ones
 *       match too. FAILOVER keeps the endpoints of the highest rank present (all preferences, then one fewer, ...,
 *       then any); STRICT keeps only those matching every preference, possibly none. Without a mode (or
 *       {@code PASSTHROUGH}), or without a known source, every eligible endpoint is in one rank;
 *   <li><b>weighted</b>: within the kept rank, one endpoint at random in proportion to its {@code capacity}
 *       (default 1). An endpoint of capacity 0 is never chosen; when all kept have 0, none is (no endpoint), as
 *       Istio's weighted choice fails then.
 * </ol>
 *
 * <p>Thread-safety and cost: built once per snapshot, then read concurrently by event loops without locks. The
 * eligible endpoints of each service port are precomputed (sorted by uid, with their target ports and cumulative
 * capacities). The kept rank depends on the source only through its values of the preference scopes, so it is
 * computed on first use per distinct set of values and memoized: an immutable array replaced by a volatile write
 * (two threads racing may both compute it; both results are equal, one is kept). A choice then costs a binary
 * search over the cumulative capacities and allocates only its result.
 */
public final class ServiceEndpoints {

    /** A choice's outcome. */
    public sealed interface Choice {}

    /** The chosen endpoint and the port to reach it on. */
    public record Endpoint(Workload workload, int targetPort) implements Choice {}

    /** No endpoint may take the connection: a counted reason and an operator-readable detail. */
    public record NoEndpoint(String reason, String detail) implements Choice {}

    /** Reason: no eligible endpoint at all for the port. */
    public static final String NO_HEALTHY_UPSTREAM = "no_healthy_upstream";
    /** Reason: STRICT load balancing, and no eligible endpoint matches every preference of the source. */
    public static final String NO_ENDPOINT_IN_LOCALITY = "no_endpoint_in_locality";

    /** Distinct source localities memoized per port; beyond this a rank is computed per connection. */
    static final int MEMO_LIMIT = 16;

    private final Service service;
    private final String name;
    private final LoadBalancing.Mode mode;
    private final Scope[] preferences;
    private final int[] ports;
    private final Candidates[] byPort;
    private final Candidates anyPort;
    /** {@link #anyPort} without the endpoints known by hostname only (a waypoint or gateway is dialled by address). */
    private final Candidates gateways;
    private final int listed;

    /** @param listing every workload that lists {@code service} among its services, in any order */
    ServiceEndpoints(Service service, List<Workload> listing) {
        this.service = service;
        this.name = WorkloadIndex.name(service);
        this.listed = listing.size();
        LoadBalancing lb = service.getLoadBalancing();
        LoadBalancing.Mode m = lb.getMode();
        this.mode = m == LoadBalancing.Mode.FAILOVER || m == LoadBalancing.Mode.STRICT ? m
                : LoadBalancing.Mode.UNSPECIFIED_MODE;
        this.preferences = lb.getRoutingPreferenceList().toArray(new Scope[0]);
        boolean allowAll = lb.getHealthPolicy() == LoadBalancing.HealthPolicy.ALLOW_ALL;
        List<Workload> eligible = new ArrayList<>(listing.size());
        for (Workload w : listing) {
            if ((allowAll || w.getStatus() == WorkloadStatus.HEALTHY) && reachable(w)) {
                eligible.add(w);
            }
        }
        eligible.sort(Comparator.comparing(Workload::getUid));
        this.anyPort = new Candidates(eligible, null);
        List<Workload> addressed = eligible.stream().filter(w -> w.getAddressesCount() > 0).toList();
        this.gateways = addressed.size() == eligible.size() ? anyPort : new Candidates(addressed, null);
        int[] p = new int[service.getPortsCount()];
        for (int i = 0; i < p.length; i++) {
            p[i] = service.getPorts(i).getServicePort();
        }
        Arrays.sort(p);
        this.ports = p;
        this.byPort = new Candidates[p.length];
        for (int i = 0; i < p.length; i++) {
            int servicePort = p[i];
            List<Workload> serving = new ArrayList<>(eligible.size());
            int[] targets = new int[eligible.size()];
            for (Workload w : eligible) {
                int t = targetPort(w, servicePort);
                if (t > 0) {
                    targets[serving.size()] = t;
                    serving.add(w);
                }
            }
            byPort[i] = new Candidates(serving, Arrays.copyOf(targets, serving.size()));
        }
    }

    public Service service() {
        return service;
    }

    /**
     * One endpoint for a connection from {@code source} (null when unknown: no ranking) to {@code servicePort}.
     * A service that declares no ports takes any port, to the same port on the endpoint unless the endpoint maps it.
     */
    public Choice choose(Workload source, int servicePort, RandomGenerator random) {
        Candidates c;
        if (ports.length == 0) {
            c = anyPort;
        } else {
            int i = Arrays.binarySearch(ports, servicePort);
            if (i < 0) {
                return new NoEndpoint(NO_HEALTHY_UPSTREAM, "service " + name + " does not expose port " + servicePort);
            }
            c = byPort[i];
        }
        if (c.workloads.length == 0) {
            return new NoEndpoint(NO_HEALTHY_UPSTREAM, "service " + name + " has no " + (allowsAll() ? "" : "healthy ")
                    + "endpoint for port " + servicePort + " (" + listed + " listed)");
        }
        Tier tier = tier(c, source);
        if (tier.members.length == 0) {
            return new NoEndpoint(NO_ENDPOINT_IN_LOCALITY, strictDetail(c, source, servicePort));
        }
        if (!tier.hasCapacity()) {
            return new NoEndpoint(NO_HEALTHY_UPSTREAM, "service " + name + ": every endpoint "
                    + (ranked() && source != null ? "of the best locality rank " : "") + "for port " + servicePort
                    + " has capacity 0 (" + tier.members.length + " of them)");
        }
        int k = tier.pick(random);
        int target = c.targets == null ? targetPort(c.workloads[k], servicePort) : c.targets[k];
        return new Endpoint(c.workloads[k], target > 0 ? target : servicePort);
    }

    /**
     * One eligible endpoint with an address whatever the port (how a waypoint or network gateway behind this service
     * is chosen), ranked for {@code source} as {@link #choose} does; null when there is none.
     */
    public Workload chooseAny(Workload source, RandomGenerator random) {
        if (gateways.workloads.length == 0) {
            return null;
        }
        Tier tier = tier(gateways, source);
        return tier.hasCapacity() ? gateways.workloads[tier.pick(random)] : null;
    }

    /**
     * An endpoint has an address, or a hostname ztunnel resolves when it connects (Istio's on-demand DNS: a
     * ServiceEntry endpoint with DNS resolution).
     */
    private static boolean reachable(Workload w) {
        return w.getAddressesCount() > 0 || !w.getHostname().isEmpty();
    }

    /** Whether {@link #choose} ranks by locality (mode FAILOVER or STRICT). */
    public boolean ranked() {
        return mode != LoadBalancing.Mode.UNSPECIFIED_MODE;
    }

    private boolean allowsAll() {
        return service.getLoadBalancing().getHealthPolicy() == LoadBalancing.HealthPolicy.ALLOW_ALL;
    }

    private Tier tier(Candidates c, Workload source) {
        if (!ranked() || source == null) {
            return c.all;
        }
        Ranked[] memo = c.memo;
        for (Ranked r : memo) {
            if (r.matches(source, preferences)) {
                return r.tier;
            }
        }
        Tier t = rank(c, source);
        if (memo.length < MEMO_LIMIT) {
            Ranked[] next = Arrays.copyOf(memo, memo.length + 1);
            next[memo.length] = new Ranked(values(source, preferences), t);
            c.memo = next;
        }
        return t;
    }

    /** The kept rank of {@code c} for {@code source}: the best one present (FAILOVER), or the full one (STRICT). */
    private Tier rank(Candidates c, Workload source) {
        int n = c.workloads.length;
        int[] ranks = new int[n];
        int best = 0;
        for (int i = 0; i < n; i++) {
            ranks[i] = rank(source, c.workloads[i], preferences);
            best = Math.max(best, ranks[i]);
        }
        int keep = mode == LoadBalancing.Mode.STRICT ? preferences.length : best;
        int count = 0;
        for (int r : ranks) {
            if (r == keep) {
                count++;
            }
        }
        int[] members = new int[count];
        for (int i = 0, j = 0; i < n; i++) {
            if (ranks[i] == keep) {
                members[j++] = i;
            }
        }
        return new Tier(members, c.workloads);
    }

    /** How many leading {@code preferences} {@code endpoint} shares with {@code source}. */
    static int rank(Workload source, Workload endpoint, Scope[] preferences) {
        int rank = 0;
        for (Scope s : preferences) {
            String v = value(source, s);
            if (v == null || !v.equals(value(endpoint, s))) {
                break;
            }
            rank++;
        }
        return rank;
    }

    /**
     * A workload's value for one scope (empty when unset); null for a value that is no scope, which never matches
     * (discovery refuses such services, see {@code AddressValidator}).
     */
    static String value(Workload w, Scope s) {
        return switch (s) {
            case REGION -> w.getLocality().getRegion();
            case ZONE -> w.getLocality().getZone();
            case SUBZONE -> w.getLocality().getSubzone();
            case NODE -> w.getNode();
            case CLUSTER -> w.getClusterId();
            case NETWORK -> w.getNetwork();
            default -> null;
        };
    }

    private static String[] values(Workload w, Scope[] preferences) {
        String[] out = new String[preferences.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = value(w, preferences[i]);
        }
        return out;
    }

    private String strictDetail(Candidates c, Workload source, int servicePort) {
        StringBuilder b = new StringBuilder("service ").append(name).append(" has ").append(c.workloads.length)
                .append(allowsAll() ? "" : " healthy").append(" endpoint(s) for port ").append(servicePort)
                .append(" but none in the source's locality (load_balancing STRICT, source");
        for (Scope s : preferences) {
            b.append(' ').append(s).append("='").append(value(source, s)).append('\'');
        }
        return b.append(')').toString();
    }

    /**
     * The target port of {@code w} for {@code servicePort}: its own mapping, else the service's target, else 0
     * (a named port the endpoint does not resolve: not served there, as Istio's ztunnel filters it). A service
     * without that port answers 0; one without ports at all, the service port.
     */
    int targetPort(Workload w, int servicePort) {
        PortList own = w.getServicesMap().get(name);
        if (own != null) {
            for (Port p : own.getPortsList()) {
                if (p.getServicePort() == servicePort) {
                    return p.getTargetPort() == 0 ? servicePort : p.getTargetPort();
                }
            }
        }
        for (Port p : service.getPortsList()) {
            if (p.getServicePort() == servicePort) {
                return p.getTargetPort();
            }
        }
        return service.getPortsCount() == 0 ? servicePort : 0;
    }

    /** The eligible endpoints of one service port (or of any port), the unranked tier, and the rank memo. */
    private static final class Candidates {
        final Workload[] workloads;
        final int[] targets;
        final Tier all;
        volatile Ranked[] memo = new Ranked[0];

        Candidates(List<Workload> workloads, int[] targets) {
            this.workloads = workloads.toArray(new Workload[0]);
            this.targets = targets;
            int[] everyone = new int[this.workloads.length];
            Arrays.setAll(everyone, i -> i);
            this.all = new Tier(everyone, this.workloads);
        }
    }

    /** Members of one rank, with the running sum of their capacities for a weighted draw. */
    static final class Tier {
        final int[] members;
        final long[] cumulative;

        Tier(int[] members, Workload[] workloads) {
            this.members = members;
            this.cumulative = new long[members.length];
            long sum = 0;
            for (int i = 0; i < members.length; i++) {
                sum += Math.max(0, Workloads.capacity(workloads[members[i]]));
                cumulative[i] = sum;
            }
        }

        /**
         * Whether any member has capacity: Istio's weighted choice fails when the capacities sum to 0 (no endpoint),
         * so an endpoint of capacity 0 is never chosen, alone or among others.
         */
        boolean hasCapacity() {
            return members.length > 0 && cumulative[members.length - 1] > 0;
        }

        /** A member (an index into the candidates) drawn in proportion to capacity; only when {@link #hasCapacity}. */
        int pick(RandomGenerator random) {
            int n = members.length;
            if (n == 1) {
                return members[0];
            }
            long total = cumulative[n - 1];
            long r = random.nextLong(total);
            // the first member whose running sum exceeds r
            int lo = 0;
            int hi = n - 1;
            while (lo < hi) {
                int mid = (lo + hi) >>> 1;
                if (cumulative[mid] > r) {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            return members[lo];
        }
    }

    /** A memoized rank: the source's values of the preference scopes, and the tier kept for them. */
    private record Ranked(String[] source, Tier tier) {
        boolean matches(Workload w, Scope[] preferences) {
            for (int i = 0; i < preferences.length; i++) {
                if (!java.util.Objects.equals(source[i], value(w, preferences[i]))) {
                    return false;
                }
            }
            return true;
        }
    }
}
