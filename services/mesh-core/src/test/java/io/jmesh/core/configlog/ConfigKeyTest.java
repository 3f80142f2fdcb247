package io.jmesh.core.configlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.config.v1.NamespaceSpec;
import io.jmesh.proto.config.v1.ObjectMeta;
import io.jmesh.proto.config.v1.PeerAuthenticationSpec;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ConfigKeyTest {

    @Test
    void keysRoundTripAndSortByKindNamespaceName() {
        ConfigKey k = ConfigKey.parse("AuthorizationPolicy/default/allow-sleep");
        assertThat(k).isEqualTo(new ConfigKey("AuthorizationPolicy", "default", "allow-sleep"));
        assertThat(ConfigKey.parse(k.bytes())).isEqualTo(k);
        assertThat(ConfigKey.parse("Namespace//default").namespace()).isEmpty();
        assertThat(new ConfigKey("A", "b", "c")).isLessThan(new ConfigKey("A", "b", "d"));
    }

    @ParameterizedTest(name = "rejects {0}")
    @ValueSource(strings = {"", "a/b", "a/b/c/d", "/ns/name", "Kind/ns/"})
    void malformedKeysAreRejected(String key) {
        assertThatThrownBy(() -> ConfigKey.parse(key)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("expected");
    }

    @Test
    void envelopeChecksNameTheProblem() {
        ConfigRecord ok = ConfigRecord.newBuilder().setSchemaVersion(1).setKind("Namespace")
                .setMetadata(ObjectMeta.newBuilder().setName("default"))
                .setNamespace(NamespaceSpec.getDefaultInstance()).build();
        assertThat(ConfigLogReader.validateEnvelope(ConfigKey.of(ok), ok)).isNull();
        assertThat(ConfigLogReader.validateEnvelope(ConfigKey.of(ok), ok.toBuilder().setSchemaVersion(2).build()))
                .startsWith("unknown_schema_version:").contains("expected: 1");
        assertThat(ConfigLogReader.validateEnvelope(ConfigKey.parse("Namespace//other"), ok))
                .startsWith("key_mismatch:");
        ConfigRecord wrongSpec = ok.toBuilder().setPeerAuthentication(PeerAuthenticationSpec.getDefaultInstance())
                .build();
        assertThat(ConfigLogReader.validateEnvelope(ConfigKey.of(ok), wrongSpec))
                .startsWith("kind_mismatch:").contains("PeerAuthentication");
    }

    @Test
    void snapshotsSelectByKind() {
        TreeMap<ConfigKey, ConfigRecord> m = new TreeMap<>();
        for (String k : new String[] {"Service/a/x", "Service/b/y", "ServiceEntry/a/z", "WorkloadEntry/a/w"}) {
            ConfigKey key = ConfigKey.parse(k);
            m.put(key, ConfigRecord.newBuilder().setKind(key.kind())
                    .setMetadata(ObjectMeta.newBuilder().setNamespace(key.namespace()).setName(key.name())).build());
        }
        ConfigSnapshot s = new ConfigSnapshot(m, java.util.Map.of(0, 4L));
        assertThat(s.ofKind("Service")).extracting(r -> r.getMetadata().getName()).containsExactly("x", "y");
        assertThat(s.size()).isEqualTo(4);
    }
}
