package io.jmesh.policy.translate;

import io.jmesh.proto.config.v1.WorkloadEntrySpec;
import io.jmesh.proto.istio.workload.Locality;
import java.util.Map;

/**
 * Where a {@code WorkloadEntry} runs, as the {@code Workload.locality} ztunnel ranks endpoints by:
 * <ul>
 *   <li>{@code spec.locality}, Istio's {@code region/zone/subzone} string (what istiod reads for a WorkloadEntry);
 *   <li>else the topology labels istiod reads from a pod's node ({@value #REGION}, {@value #ZONE},
 *       {@value #SUBZONE}), taken from the entry's {@code spec.labels} (a WorkloadEntry stands for a workload on
 *       a node; a pod may carry them too);
 *   <li>else, for a pod, those labels on its {@code Node} (from the Kubernetes source);
 *   <li>else none (empty strings, which match each other: two workloads without locality count as co-located).
 * </ul>
 */
public final class WorkloadLocality {

    public static final String REGION = "topology.kubernetes.io/region";
    public static final String ZONE = "topology.kubernetes.io/zone";
    public static final String SUBZONE = "topology.istio.io/subzone";
    public static final java.util.Set<String> LABELS = java.util.Set.of(REGION, ZONE, SUBZONE);

    private WorkloadLocality() {}

    /** The entry's locality, or null when it has none. */
    public static Locality of(WorkloadEntrySpec spec) {
        return of(spec, Map.of());
    }

    /** The workload's locality, its node's ({@code nodeLabels}) when it names none itself; null when neither does. */
    public static Locality of(WorkloadEntrySpec spec, Map<String, String> nodeLabels) {
        if (!spec.getLocality().isEmpty()) {
            String[] parts = spec.getLocality().split("/", -1);
            return locality(parts[0], parts.length > 1 ? parts[1] : "", parts.length > 2 ? parts[2] : "");
        }
        Map<String, String> labels = spec.getLabelsMap();
        Locality own = locality(labels.getOrDefault(REGION, ""), labels.getOrDefault(ZONE, ""),
                labels.getOrDefault(SUBZONE, ""));
        return own != null ? own : locality(nodeLabels.getOrDefault(REGION, ""), nodeLabels.getOrDefault(ZONE, ""),
                nodeLabels.getOrDefault(SUBZONE, ""));
    }

    /** {@code region/zone/subzone} from the topology labels, or null when they name none. */
    public static String fromLabels(Map<String, String> labels) {
        Locality l = locality(labels.getOrDefault(REGION, ""), labels.getOrDefault(ZONE, ""),
                labels.getOrDefault(SUBZONE, ""));
        return l == null ? null : l.getRegion() + "/" + l.getZone() + "/" + l.getSubzone();
    }

    /** {@code locality} with all three parts: {@code eu/west} → {@code eu/west/}. */
    public static String normalize(String locality) {
        String[] parts = locality.split("/", -1);
        return parts[0] + "/" + (parts.length > 1 ? parts[1] : "") + "/" + (parts.length > 2 ? parts[2] : "");
    }

    private static Locality locality(String region, String zone, String subzone) {
        if (region.isEmpty() && zone.isEmpty() && subzone.isEmpty()) {
            return null;
        }
        return Locality.newBuilder().setRegion(region).setZone(zone).setSubzone(subzone).build();
    }
}
