package io.jmesh.ca.placement;

import io.jmesh.core.configlog.ConfigLogReader;
import io.jmesh.core.configlog.ConfigSnapshot;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.config.v1.WorkloadEntrySpec;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Placement materialized from the config log: every {@code WorkloadEntry} or {@code Pod} (policy's Kubernetes
 * source) with a {@code node} puts the identity
 * {@code spiffe://<trust domain>/ns/<namespace>/sa/<service_account or default>} on that node. Entries without a
 * node place nothing (no ztunnel may obtain their identity by impersonation). The address is not looked at: a pod
 * is written once scheduled, before its IP is known, when its ztunnel already asks for its certificate.
 *
 * <p>The placement is empty (every impersonation refused) until the log has been replayed, then rebuilt on the
 * reader's thread after each batch and swapped in whole.
 */
public final class ConfigLogPlacement implements PlacementSource {

    private static final Logger log = LoggerFactory.getLogger(ConfigLogPlacement.class);
    /** The kinds that place a workload: Istio's WorkloadEntry and, from the Kubernetes source, Pods. */
    private static final java.util.List<String> KINDS = java.util.List.of("WorkloadEntry", "Pod");

    private final ConfigLogReader reader;
    private final String trustDomain;
    private final String topic;
    private final CompletableFuture<Void> ready = new CompletableFuture<>();
    private volatile Placement current = Placement.EMPTY;

    private ConfigLogPlacement(ConfigLogReader reader, String trustDomain, String topic) {
        this.reader = reader;
        this.trustDomain = trustDomain;
        this.topic = topic;
    }

    /** Starts replaying {@code topic} from {@code bootstrapServers}. */
    public static ConfigLogPlacement start(String bootstrapServers, String topic, String trustDomain,
            String clientId, PrometheusRegistry metrics) {
        ConfigLogReader reader = ConfigLogReader.start(bootstrapServers, topic, clientId, metrics);
        ConfigLogPlacement p = new ConfigLogPlacement(reader, trustDomain, topic);
        // nothing is placed until the replay has caught up: before, the log may still hold versions of workloads
        // that later records move to another node or delete (the active segment is never compacted)
        reader.onChange((snapshot, changed) -> {
            if (reader.caughtUp().isDone()) {
                p.rebuild();
            }
        });
        // ready only after the replayed state is swapped in (dependents of caughtUp run in no fixed order)
        reader.caughtUp().whenComplete((snapshot, err) -> {
            if (err != null) {
                p.ready.completeExceptionally(err);
            } else {
                p.rebuild();
                p.ready.complete(null);
            }
        });
        return p;
    }

    /**
     * Rebuilds from the reader's latest snapshot. Synchronized, and never from an older snapshot: the replay's
     * completion may run on the starting thread while the reader thread applies the next batch.
     */
    private synchronized void rebuild() {
        ConfigSnapshot snapshot = reader.snapshot();
        Placement.Builder b = new Placement.Builder();
        int workloads = 0;
        for (ConfigRecord r : KINDS.stream().flatMap(k -> snapshot.ofKind(k).stream()).toList()) {
            WorkloadEntrySpec w = r.getWorkloadEntry();
            if (w.getNode().isEmpty()) {
                continue;
            }
            String sa = w.getServiceAccount().isEmpty() ? "default" : w.getServiceAccount();
            SpiffeId id;
            try {
                id = SpiffeId.of(trustDomain, r.getMetadata().getNamespace(), sa);
            } catch (IllegalArgumentException e) {
                log.atWarn().addKeyValue("workload", r.getMetadata().getNamespace() + "/" + r.getMetadata().getName())
                        .log("workload entry ignored for placement: {}", e.getMessage());
                continue;
            }
            b.add(w.getNode(), id);
            workloads++;
        }
        Placement next = b.build();
        if (!next.equals(current)) {
            current = next;
            log.atInfo().addKeyValue("nodes", next.identitiesByNode().size()).addKeyValue("workloads", workloads)
                    .log("placement changed");
        }
    }

    @Override
    public Placement current() {
        return current;
    }

    @Override
    public CompletionStage<?> ready() {
        return ready;
    }

    @Override
    public String describe() {
        return "config log " + topic;
    }

    @Override
    public void close() {
        reader.close();
    }
}
