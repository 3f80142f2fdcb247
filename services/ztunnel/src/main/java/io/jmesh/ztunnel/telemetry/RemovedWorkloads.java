package io.jmesh.ztunnel.telemetry;

import io.jmesh.ztunnel.discovery.WorkloadIndex;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * Which workload names and hostnames the last discovery push took away for good, so that their metric series can
 * go (Istio issue #1719: stale per-pod series are never evicted otherwise). A name stays while any workload with
 * that name and namespace remains ({@link IstioTcpLabels#seriesName}), a hostname while any workload has it.
 *
 * <p>Costs what a push changed: it follows the workloads from the last index it saw to the next one
 * ({@link WorkloadIndex#forEachWorkloadChange}, which skips what the two share) and keeps how many workloads hold
 * each name and hostname. Not thread-safe: one caller at a time.
 */
final class RemovedWorkloads {

    /** The names and hostnames no workload holds any more; both empty when nothing went. */
    record Gone(Set<String> names, Set<String> hostnames) {
        boolean isEmpty() {
            return names.isEmpty() && hostnames.isEmpty();
        }
    }

    private WorkloadIndex seen = WorkloadIndex.EMPTY;
    private final Map<String, Integer> liveNames = new HashMap<>();
    private final Map<String, Integer> liveHostnames = new HashMap<>();

    /** Moves on to {@code next}: what the workloads since the last index no longer hold. */
    Gone follow(WorkloadIndex next) {
        Set<String> goneNames = new HashSet<>();
        Set<String> goneHostnames = new HashSet<>();
        next.forEachWorkloadChange(seen, (was, now) -> {
            if (now != null) {
                count(liveNames, IstioTcpLabels.seriesName(now), 1, goneNames);
                count(liveHostnames, now.getHostname(), 1, goneHostnames);
            }
            if (was != null) {
                count(liveNames, IstioTcpLabels.seriesName(was), -1, goneNames);
                count(liveHostnames, was.getHostname(), -1, goneHostnames);
            }
        });
        seen = next;
        goneNames.removeIf(liveNames::containsKey); // left and came back within the push
        goneHostnames.removeIf(liveHostnames::containsKey);
        return new Gone(goneNames, goneHostnames);
    }

    /** Adds {@code delta} to {@code key}'s count; a count that reaches zero goes, its key noted in {@code gone}. */
    private static void count(Map<String, Integer> counts, String key, int delta, Set<String> gone) {
        if (key == null || key.isEmpty()) {
            return;
        }
        Integer n = counts.merge(key, delta, Integer::sum);
        if (n <= 0) {
            counts.remove(key);
            gone.add(key);
        }
    }
}
