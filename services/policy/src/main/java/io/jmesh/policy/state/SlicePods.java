package io.jmesh.policy.state;

import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.config.v1.EndpointSliceSpec;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The Services a namespace's EndpointSlices add to the pods they name by {@code targetRef}, as istiod adds them
 * ({@code matchingServicesWithoutSelectors}): the usual case is a Service without a selector whose endpoints are pods,
 * but any Service of the slice's label counts, when it exists and does not select the pod already. A reference naming
 * a {@code uid} matches only the pod of that uid (not a successor of the same name); one naming none matches by name.
 * Only references to pods of the slice's own namespace are followed (istiod follows others too): a namespace's
 * workloads are computed from its own records.
 */
final class SlicePods {

    private record Ref(String uid, ConfigRecord service) {}

    // a pod's name → the references to it, in record order (slices by name)
    private final Map<String, List<Ref>> byPod = new HashMap<>();

    /** @param servicesByName the namespace's Services, by name */
    SlicePods(String namespace, List<ConfigRecord> records, Map<String, ConfigRecord> servicesByName) {
        for (ConfigRecord r : records) {
            if (r.getSpecCase() != ConfigRecord.SpecCase.ENDPOINT_SLICE) {
                continue;
            }
            ConfigRecord service = servicesByName.get(r.getEndpointSlice().getService());
            if (service == null) {
                continue; // a slice of no registered Service routes nothing, as in istiod
            }
            for (EndpointSliceSpec.PodRef pod : r.getEndpointSlice().getPodsList()) {
                if (namespace.equals(pod.getNamespace())) {
                    byPod.computeIfAbsent(pod.getName(), n -> new ArrayList<>(1)).add(new Ref(pod.getUid(), service));
                }
            }
        }
    }

    /** {@code selecting} (the Services that select {@code pod}) and, after them, those its slices add. */
    List<ConfigRecord> servicesOf(ConfigRecord pod, List<ConfigRecord> selecting) {
        List<Ref> refs = byPod.get(pod.getMetadata().getName());
        if (refs == null || !"Pod".equals(pod.getKind())) {
            return selecting;
        }
        List<ConfigRecord> out = new ArrayList<>(selecting);
        for (Ref ref : refs) {
            boolean samePod = ref.uid().isEmpty() || ref.uid().equals(pod.getMetadata().getUid());
            if (samePod && !out.contains(ref.service())) {
                out.add(ref.service());
            }
        }
        return out;
    }
}
