package io.jmesh.loadtest;

import java.nio.file.Path;
import java.time.Duration;

/**
 * What a scenario gets from the runner.
 *
 * @param repo the repository root (service jars are under {@code services/<name>/target/<name>.jar})
 * @param workDir a fresh scratch directory for this scenario (state dirs, certificates, logs)
 * @param duration how long each measured phase runs (shorter with {@code --quick})
 * @param quick true for a short smoke run
 */
public record BenchContext(Path repo, Path workDir, Duration duration, boolean quick) {

    public Path serviceJar(String service) {
        return repo.resolve("services").resolve(service).resolve("target").resolve(service + ".jar");
    }
}
