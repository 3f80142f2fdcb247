package io.jmesh.policy.source;

import com.google.protobuf.Timestamp;
import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.core.configlog.ConfigLogWriter;
import io.jmesh.core.configlog.ConfigSnapshot;
import io.jmesh.policy.resource.ManifestReader;
import io.jmesh.policy.resource.ParsedObject;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.policy.v1.ApplyResult;
import io.jmesh.proto.policy.v1.FieldError;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * The single way configuration enters the mesh: validates manifests ({@link ManifestReader}) and writes each
 * valid object to the config log as one record (never half an object), tombstones for deletes. Every source (the
 * manifest directory, the admin API, later Kubernetes informers) goes through here.
 *
 * <p>Compares with the state in force (the replica's materialized snapshot) so re-applying an unchanged object
 * writes nothing. Writes may block briefly on Kafka metadata: call from a worker, never an event loop.
 */
public final class ConfigApplier implements ConfigSink {

    private final ManifestReader reader;
    private final ConfigLogWriter writer;
    private final Supplier<ConfigSnapshot> inForce;
    private final Counter rejected;
    private final Clock clock;

    public ConfigApplier(ManifestReader reader, ConfigLogWriter writer, Supplier<ConfigSnapshot> inForce,
            PrometheusRegistry metrics, Clock clock) {
        this.reader = reader;
        this.writer = writer;
        this.inForce = inForce;
        this.clock = clock;
        this.rejected = Counter.builder().name("policy_config_rejected_total")
                .help("Manifest documents rejected at apply time").labelNames("source", "reason").register(metrics);
        // zero series for every source, so a dashboard shows 0 rather than no data
        for (String kind : new String[] {"file", "admin-api", "kubernetes"}) {
            rejected.labelValues(kind, "invalid");
        }
    }

    @Override
    public CompletableFuture<List<ApplyResult>> apply(List<String> manifests, String source, boolean dryRun) {
        ConfigSnapshot current = inForce.get();
        List<ApplyResult> results = new ArrayList<>();
        List<CompletableFuture<?>> writes = new ArrayList<>();
        for (int m = 0; m < manifests.size(); m++) {
            for (ParsedObject o : reader.read(manifests.get(m))) {
                ApplyResult.Builder r = ApplyResult.newBuilder().setKind(o.kind()).setNamespace(o.namespace())
                        .setName(o.name()).setManifestIndex(m).setDocumentIndex(o.documentIndex())
                        .addAllWarnings(o.warnings());
                if (!o.accepted()) {
                    o.errors().forEach(e -> r.addErrors(FieldError.newBuilder().setPath(e.path())
                            .setMessage(e.message())));
                    rejected.labelValues(sourceKind(source), "invalid").inc();
                    results.add(r.build());
                    continue;
                }
                ConfigRecord previous = current.get(o.key());
                ConfigRecord next = stamp(o.record(), previous, source);
                r.setAccepted(true).setRecord(next);
                if (previous != null && comparable(previous).equals(comparable(next))) {
                    r.setChange(ApplyResult.Change.UNCHANGED);
                } else {
                    r.setChange(previous == null ? ApplyResult.Change.CREATED : ApplyResult.Change.UPDATED);
                    if (!dryRun) {
                        writes.add(writer.put(next));
                    }
                }
                results.add(r.build());
            }
        }
        return CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new)).thenApply(v -> results);
    }

    @Override
    public CompletableFuture<Boolean> delete(ConfigKey key, boolean dryRun) {
        boolean present = inForce.get().get(key) != null;
        if (!present || dryRun) {
            return CompletableFuture.completedFuture(present);
        }
        return writer.delete(key).thenApply(md -> true);
    }

    @Override
    public ConfigSnapshot inForce() {
        return inForce.get();
    }

    private ConfigRecord stamp(ConfigRecord record, ConfigRecord previous, String source) {
        Instant now = clock.instant();
        ConfigRecord.Builder b = record.toBuilder().setSource(source)
                .setAppliedAt(Timestamp.newBuilder().setSeconds(now.getEpochSecond()).setNanos(now.getNano()));
        if (record.getMetadata().getGeneration() == 0) {
            long generation = previous == null ? 1 : previous.getMetadata().getGeneration()
                    + (comparable(previous).equals(comparable(record)) ? 0 : 1);
            b.getMetadataBuilder().setGeneration(generation);
        }
        return b.build();
    }

    /** The record without what every write changes (writer, time, generation). */
    private static ConfigRecord comparable(ConfigRecord r) {
        ConfigRecord.Builder b = r.toBuilder().clearSource().clearAppliedAt();
        b.getMetadataBuilder().clearGeneration();
        return b.build();
    }

    private static String sourceKind(String source) {
        int colon = source.indexOf(':');
        return colon < 0 ? source : source.substring(0, colon);
    }
}
