package io.jmesh.policy.state;

import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.config.v1.EndpointSliceSpec;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The Services EndpointSlices add to the pods they name by {@code targetRef}, as istiod adds them
 * ({@code matchingServicesWithoutSelectors}): the usual case is a Service without a selector whose endpoints are pods,
 * but any Service of the slice's label counts, when it exists (in the slice's namespace) and does not select the pod
 * already. As istiod's index, a reference reaches a pod only when its namespace, name and uid are the pod's (so not a
 * successor of the same name), and it reaches pods of any namespace: a slice of another namespace is an input of the
 * pod's namespace ({@link #foreignInputs}).
 */
final class SlicePods {

    private record Ref(String uid, ConfigRecord service) {}

    // a pod's name → the references to it, in record order (own slices by name, then other namespaces' slices)
    private final Map<String, List<Ref>> byPod = new HashMap<>();

    /**
     * @param servicesByName the namespace's Services, by name
     * @param foreign from {@link #foreignInputs}: other namespaces' slices naming this one's pods, each followed by its
     *     Service (null: none)
     */
    SlicePods(String namespace, List<ConfigRecord> records, Map<String, ConfigRecord> servicesByName,
            List<ConfigRecord> foreign) {
        for (ConfigRecord r : records) {
            if (r.getSpecCase() == ConfigRecord.SpecCase.ENDPOINT_SLICE) {
                add(namespace, r, servicesByName.get(r.getEndpointSlice().getService()));
            }
        }
        for (int i = 0; i + 1 < foreign.size(); i += 2) {
            add(namespace, foreign.get(i), foreign.get(i + 1));
        }
    }

    private void add(String namespace, ConfigRecord slice, ConfigRecord service) {
        if (service == null) {
            return; // a slice of no registered Service routes nothing, as in istiod
        }
        for (EndpointSliceSpec.PodRef pod : slice.getEndpointSlice().getPodsList()) {
            if (namespace.equals(pod.getNamespace()) && !pod.getUid().isEmpty()) {
                byPod.computeIfAbsent(pod.getName(), n -> new ArrayList<>(1)).add(new Ref(pod.getUid(), service));
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
            if (ref.uid().equals(pod.getMetadata().getUid()) && !out.contains(ref.service())) {
                out.add(ref.service());
            }
        }
        return out;
    }

    /**
     * For each namespace, the slices of other namespaces that name its pods, each followed by the Service it serves
     * (null while that does not exist), in namespace and name order: what the namespace's workloads depend on outside
     * it, so a change of either recomputes it.
     */
    static Map<String, List<ConfigRecord>> foreignInputs(Map<String, List<ConfigRecord>> byNamespace) {
        Map<String, List<ConfigRecord>> out = new HashMap<>();
        for (Map.Entry<String, List<ConfigRecord>> e : byNamespace.entrySet()) {
            Map<String, ConfigRecord> services = null;
            for (ConfigRecord r : e.getValue()) {
                if (r.getSpecCase() != ConfigRecord.SpecCase.ENDPOINT_SLICE) {
                    continue;
                }
                Set<String> targets = new LinkedHashSet<>();
                for (EndpointSliceSpec.PodRef pod : r.getEndpointSlice().getPodsList()) {
                    if (!pod.getNamespace().equals(e.getKey())) {
                        targets.add(pod.getNamespace());
                    }
                }
                if (targets.isEmpty()) {
                    continue;
                }
                if (services == null) {
                    services = servicesOf(e.getValue());
                }
                ConfigRecord service = services.get(r.getEndpointSlice().getService());
                for (String target : targets) {
                    List<ConfigRecord> in = out.computeIfAbsent(target, t -> new ArrayList<>());
                    in.add(r);
                    in.add(service);
                }
            }
        }
        return out;
    }

    private static Map<String, ConfigRecord> servicesOf(List<ConfigRecord> records) {
        Map<String, ConfigRecord> out = new HashMap<>();
        for (ConfigRecord r : records) {
            if ("Service".equals(r.getKind())) {
                out.put(r.getMetadata().getName(), r);
            }
        }
        return out;
    }
}
