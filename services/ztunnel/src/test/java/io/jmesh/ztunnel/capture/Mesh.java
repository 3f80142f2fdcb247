package io.jmesh.ztunnel.capture;

import io.jmesh.ztunnel.discovery.StaticConfigFile;
import io.jmesh.ztunnel.discovery.WorkloadIndex;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Workload indexes for capture tests, written as the static-file YAML. */
final class Mesh {

    private Mesh() {}

    static WorkloadIndex of(Path dir, String workloadsYaml) {
        try {
            Path f = Files.createTempFile(dir, "mesh", ".yaml");
            Files.writeString(f, "workloads:\n" + workloadsYaml);
            return WorkloadIndex.of(StaticConfigFile.read(f).addresses());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
