package io.jmesh.ztunnel.testing;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.core.configlog.ConfigSnapshot;
import io.jmesh.policy.resource.ManifestReader;
import io.jmesh.policy.resource.ParsedObject;
import io.jmesh.policy.state.MeshSettings;
import io.jmesh.policy.state.MeshState;
import io.jmesh.policy.state.MeshStateBuilder;
import io.jmesh.proto.config.v1.ConfigRecord;
import java.util.Map;
import java.util.TreeMap;

/**
 * Kubernetes-shaped manifests as policy serves them: its own reader (the validation every source uses; each
 * document must pass) and state builder, root namespace {@code istio-system}, domain {@code cluster.local}. The
 * state's resources are what a ztunnel receives over delta ADS.
 */
public final class PolicyManifests {

    private PolicyManifests() {}

    public static MeshState state(String manifests) {
        TreeMap<ConfigKey, ConfigRecord> records = new TreeMap<>();
        for (ParsedObject o : new ManifestReader("istio-system").read(manifests)) {
            assertThat(o.errors()).as(o.describe()).isEmpty();
            records.put(o.key(), o.record());
        }
        return new MeshStateBuilder(new MeshSettings("istio-system", "cluster.local", "Kubernetes", "cluster.local"))
                .build(new ConfigSnapshot(records, Map.of()), skipped -> { });
    }
}
