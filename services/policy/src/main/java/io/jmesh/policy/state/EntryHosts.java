package io.jmesh.policy.state;

import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.proto.config.v1.ConfigRecord;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The hosts each ServiceEntry of one namespace publishes as services, and the entries whose workload selector picks
 * a pod or WorkloadEntry. A service is {@code <namespace>/<hostname>}: a host a Service of the namespace (or an
 * entry before it, by name) already has is left out of the later entry, and reported.
 */
final class EntryHosts {

    /** An entry that selects a workload, with the hosts it publishes. */
    record Selected(ConfigRecord entry, List<String> hosts) {}

    private final Map<ConfigRecord, List<String>> hosts = new IdentityHashMap<>();
    private final SelectorIndex<ConfigRecord> selectors = new SelectorIndex<>(
            r -> r.getServiceEntry().getWorkloadSelector().getMatchLabelsMap());

    /** @param entries the namespace's ServiceEntry records, in name order */
    EntryHosts(Set<String> serviceHostnames, List<ConfigRecord> entries, Consumer<MeshState.Skipped> skipped) {
        Set<String> taken = new HashSet<>(serviceHostnames);
        for (ConfigRecord r : entries) {
            List<String> own = new ArrayList<>();
            for (String h : r.getServiceEntry().getHostsList()) {
                if (taken.add(h)) {
                    own.add(h);
                } else {
                    skipped.accept(new MeshState.Skipped(ConfigKey.of(r).toString(), "host '" + h + "' left out:"
                            + " a Service or an earlier ServiceEntry of namespace " + r.getMetadata().getNamespace()
                            + " already has it"));
                }
            }
            hosts.put(r, List.copyOf(own));
            if (r.getServiceEntry().getWorkloadSelector().getMatchLabelsCount() > 0) {
                selectors.add(r);
            }
        }
    }

    /** The hosts {@code entry} publishes. */
    List<String> of(ConfigRecord entry) {
        return hosts.getOrDefault(entry, List.of());
    }

    /** The entries whose selector picks a workload with {@code labels}. */
    List<Selected> selecting(Map<String, String> labels) {
        List<ConfigRecord> entries = selectors.selecting(labels);
        if (entries.isEmpty()) {
            return List.of();
        }
        List<Selected> out = new ArrayList<>(entries.size());
        for (ConfigRecord r : entries) {
            out.add(new Selected(r, of(r)));
        }
        return out;
    }
}
