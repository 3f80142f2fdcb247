package io.jmesh.policy.source;

import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.core.configlog.ConfigSnapshot;
import io.jmesh.proto.policy.v1.ApplyResult;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/** Where a {@link ConfigSource} sends what it reads: validation, then the config log. */
public interface ConfigSink {

    /**
     * Validates and writes manifests; each document is judged on its own.
     *
     * @param source who writes, e.g. {@code file:/etc/mesh/a.yaml}, {@code admin-api:<identity>}
     */
    CompletableFuture<List<ApplyResult>> apply(List<String> manifests, String source, boolean dryRun);

    /** Writes a tombstone; completes with false if the object was not in force. */
    CompletableFuture<Boolean> delete(ConfigKey key, boolean dryRun);

    /** The state in force, as this replica has materialized it from the log. */
    ConfigSnapshot inForce();
}
