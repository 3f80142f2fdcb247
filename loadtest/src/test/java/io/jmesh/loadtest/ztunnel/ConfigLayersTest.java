package io.jmesh.loadtest.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.core.config.ConfigLoader;
import io.jmesh.ztunnel.ZtunnelConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLayersTest {

    @TempDir
    Path dir;

    @Test
    void laterLayersWinSectionBySectionWithoutRepeatingASection() throws Exception {
        String merged = ConfigLayers.merge("""
                logLevel: warn
                node: {name: node-a, address: 127.0.210.1}
                hbone: {pingInterval: 10s}
                """, "hbone: {sharedStreamWindowBytes: 131072}", "hbone: {sharedStreamWindowBytes: 0}\n", "  ");
        assertThat(merged).containsOnlyOnce("\"hbone\"");
        Path file = dir.resolve("ztunnel.yaml");
        Files.writeString(file, merged);
        // read as ztunnel reads its file: the path's own 0 over the run's override, the base's other keys kept
        ZtunnelConfig config = ConfigLoader.load(ZtunnelConfig.class, "ztunnel", file, Map.of()).config();
        assertThat(config.hbone().sharedStreamWindowBytes()).isZero();
        assertThat(config.hbone().pingInterval()).hasSeconds(10);
        assertThat(config.node().name()).isEqualTo("node-a");
    }

    @Test
    void aLayerThatIsNotAMappingIsRefusedWithItsText() {
        assertThatThrownBy(() -> ConfigLayers.merge("logLevel: warn", "- a list"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("- a list");
        assertThatThrownBy(() -> ConfigLayers.merge("hbone: {"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not valid YAML")
                .hasMessageContaining("hbone: {");
    }
}
