package io.jmesh.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.core.config.ConfigException;
import io.jmesh.core.config.ConfigLoader;
import io.jmesh.policy.kubernetes.LeaderElection;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** policy's configuration: the defaults file and the checks on the Kubernetes source's leader election. */
class PolicyConfigTest {

    @TempDir
    Path dir;

    PolicyConfig load(String yaml) throws Exception {
        Path f = dir.resolve("policy.yaml");
        Files.writeString(f, yaml);
        return ConfigLoader.load(PolicyConfig.class, "policy", f, Map.of()).config();
    }

    @Test
    void theSourcesWriterIsElectedByDefaultWithClientGosTimings() throws Exception {
        PolicyConfig.Kubernetes.LeaderElection e = load("kafka: {bootstrapServers: 127.0.0.1:9092}\n")
                .kubernetes().leaderElection();
        assertThat(e.enabled()).isTrue();
        assertThat(e.name()).isEqualTo("jmesh-policy-kubernetes");
        assertThat(e.leaseDuration()).isEqualTo(Duration.ofSeconds(15));
        assertThat(e.renewDeadline()).isEqualTo(Duration.ofSeconds(10));
        assertThat(e.retryPeriod()).isEqualTo(Duration.ofSeconds(2));
    }

    @Test
    void termsThatWouldLetTwoReplicasLeadAreRefusedNamingTheKeys() {
        assertThatThrownBy(() -> load("kafka: {bootstrapServers: 127.0.0.1:9092}\n"
                + "kubernetes: {leaderElection: {renewDeadline: 20s}}\n"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("kubernetes.leaderElection")
                .hasMessageContaining("renewDeadline 20s, leaseDuration 15s")
                .hasMessageContaining("stops leading before another may take over");
        assertThatThrownBy(() -> load("kafka: {bootstrapServers: 127.0.0.1:9092}\n"
                + "kubernetes: {leaderElection: {name: Not_A_Name}}\n"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("kubernetes.leaderElection")
                .hasMessageContaining("name: 'Not_A_Name'");
    }

    @Test
    void anExplicitNamespaceAndIdentityAreUsedAsGiven() throws Exception {
        LeaderElection.Settings s = PolicyBootstrap.electionSettings(load("kafka: {bootstrapServers: 127.0.0.1:9092}\n"
                + "kubernetes: {leaderElection: {namespace: mesh-system, identity: policy-7f9c-abcde}}\n")
                .kubernetes().leaderElection());
        assertThat(s.namespace()).isEqualTo("mesh-system");
        assertThat(s.identity()).isEqualTo("policy-7f9c-abcde");
    }

    @Test
    void connectionsAreKeptAliveAndAgedAsIstiodsByDefaultAndBadValuesAreRefusedNamingTheKeys() throws Exception {
        PolicyConfig.Xds x = load("kafka: {bootstrapServers: 127.0.0.1:9092}\n").xds();
        assertThat(x.keepaliveInterval()).isEqualTo(Duration.ofSeconds(30));
        assertThat(x.keepaliveTimeout()).isEqualTo(Duration.ofSeconds(10));
        assertThat(x.maxConnectionAge()).isEqualTo(Duration.ofMinutes(30));
        assertThat(x.maxConnectionAgeGrace()).isEqualTo(Duration.ofSeconds(10));
        assertThatThrownBy(() -> load("kafka: {bootstrapServers: 127.0.0.1:9092}\nxds: {keepaliveTimeout: 0s}\n"))
                .hasMessageContaining("xds.keepaliveTimeout: PT0S (expected: > 0)");
        assertThatThrownBy(() -> load("kafka: {bootstrapServers: 127.0.0.1:9092}\nxds: {maxConnectionAge: 0s}\n"))
                .hasMessageContaining("xds.maxConnectionAge: PT0S (expected: > 0)");
        assertThatThrownBy(() -> load("kafka: {bootstrapServers: 127.0.0.1:9092}\n"
                + "xds: {maxConnectionAgeGrace: -1s}\n"))
                .hasMessageContaining("xds.maxConnectionAgeGrace");
    }

    @Test
    void newStreamsAreAdmittedAsIstiodDoesByDefaultAndBoundedInTheirInitialSync() throws Exception {
        PolicyConfig.Xds.Admission a = load("kafka: {bootstrapServers: 127.0.0.1:9092}\n").xds().admission();
        assertThat(a.maxSyncingStreams()).isEqualTo(16);
        assertThat(a.maxInitialSync()).isEqualTo(Duration.ofSeconds(60));
        assertThat(a.maxStreamsPerNode()).isEqualTo(4);
        assertThat(a.newStreamsPerSecond(1)).isEqualTo(20);
        assertThat(a.newStreamsPerSecond(2)).isEqualTo(25);
        assertThat(a.newStreamsPerSecond(64)).isEqualTo(100);
        assertThat(load("kafka: {bootstrapServers: 127.0.0.1:9092}\n"
                + "xds: {admission: {maxNewStreamsPerSecond: 5}}\n").xds().admission().newStreamsPerSecond(2))
                .isEqualTo(5);
    }

    @Test
    void admissionLimitsThatAdmitNothingAreRefusedNamingTheKeys() {
        assertThatThrownBy(() -> load("kafka: {bootstrapServers: 127.0.0.1:9092}\n"
                + "xds: {admission: {maxSyncingStreams: 0}}\n"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("xds.admission")
                .hasMessageContaining("maxSyncingStreams: 0 (expected: >= 1)");
        assertThatThrownBy(() -> load("kafka: {bootstrapServers: 127.0.0.1:9092}\n"
                + "xds: {admission: {maxNewStreamsPerSecond: -1}}\n"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("xds.admission")
                .hasMessageContaining("maxNewStreamsPerSecond: -1 (expected: >= 0");
        assertThatThrownBy(() -> load("kafka: {bootstrapServers: 127.0.0.1:9092}\n"
                + "xds: {admission: {maxInitialSync: 0s}}\n"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("xds.admission")
                .hasMessageContaining("maxInitialSync: 0s (expected: >= 1s)");
        assertThatThrownBy(() -> load("kafka: {bootstrapServers: 127.0.0.1:9092}\n"
                + "xds: {admission: {maxStreamsPerNode: 0}}\n"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("xds.admission")
                .hasMessageContaining("maxStreamsPerNode: 0 (expected: >= 1");
    }
}
