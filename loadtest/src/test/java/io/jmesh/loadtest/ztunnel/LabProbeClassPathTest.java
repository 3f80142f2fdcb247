package io.jmesh.loadtest.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The capture lab runs its probes (echo server, latency client) as JVMs inside network namespaces with only
 * {@link LabProbe#classPath()}: what they load, {@link Topology} included, must link with that alone.
 */
class LabProbeClassPathTest {

    @Test
    void theProbesClassesLinkWithTheProbesOwnClassPath() throws Exception {
        String[] parts = LabProbe.classPath().split(File.pathSeparator);
        URL[] urls = new URL[parts.length];
        for (int i = 0; i < parts.length; i++) {
            urls[i] = Path.of(parts[i]).toUri().toURL();
        }
        try (URLClassLoader probe = new URLClassLoader(urls, ClassLoader.getPlatformClassLoader())) {
            for (Class<?> c : new Class<?>[] {LabProbe.class, Topology.class, Loads.class}) {
                Class<?> loaded = Class.forName(c.getName(), true, probe); // initialising links (and verifies) it
                assertThat(loaded.getClassLoader()).isSameAs(probe);
            }
        }
    }
}
