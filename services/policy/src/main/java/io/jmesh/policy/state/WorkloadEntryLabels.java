package io.jmesh.policy.state;

import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.config.v1.WorkloadEntrySpec;
import java.util.Map;

/**
 * The labels a WorkloadEntry is selected by, as istiod reads them ({@code ConvertClientWorkloadEntry}): its
 * {@code spec.labels} and {@code metadata.labels} merged, metadata's value first where both name a key. So an entry
 * labelled only in its metadata (as {@code kubectl label workloadentry} does) is still under the Services, policies,
 * PeerAuthentications and ServiceEntries that select it. A pod's labels are its metadata's already.
 */
final class WorkloadEntryLabels {

    private WorkloadEntryLabels() {}

    /** {@code r} with its spec's labels merged as istiod merges them; {@code r} itself when nothing changes. */
    static ConfigRecord merged(ConfigRecord r) {
        if (!"WorkloadEntry".equals(r.getKind())) {
            return r;
        }
        Map<String, String> meta = r.getMetadata().getLabelsMap();
        Map<String, String> spec = r.getWorkloadEntry().getLabelsMap();
        boolean changes = false;
        for (Map.Entry<String, String> e : meta.entrySet()) {
            if (!e.getValue().equals(spec.get(e.getKey()))) {
                changes = true;
                break;
            }
        }
        if (!changes) {
            return r;
        }
        WorkloadEntrySpec merged = r.getWorkloadEntry().toBuilder().putAllLabels(meta).build();
        return r.toBuilder().setWorkloadEntry(merged).build();
    }
}
