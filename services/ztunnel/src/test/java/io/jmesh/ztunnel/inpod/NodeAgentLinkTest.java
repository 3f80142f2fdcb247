package io.jmesh.ztunnel.inpod;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.core.admin.Readiness;
import io.jmesh.proto.istio.workload.zds.AddWorkload;
import io.jmesh.proto.istio.workload.zds.DelWorkload;
import io.jmesh.proto.istio.workload.zds.KeepWorkload;
import io.jmesh.proto.istio.workload.zds.SnapshotSent;
import io.jmesh.proto.istio.workload.zds.WorkloadRequest;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The ZDS request handling without sockets or namespaces (any user): bad requests get a precise refusal and are
 * counted, stray descriptors are closed, and requests out of protocol order are protocol errors. The whole path
 * with real namespaces is {@link InPodNetnsTest}.
 */
class NodeAgentLinkTest {

    final PrometheusRegistry metrics = new PrometheusRegistry();
    final PodProxies pods = new PodProxies(new PodProxy.Node(null, null, null, null, null, null, null, null, null, null), metrics,
            () -> {});
    final NodeAgentLink link = new NodeAgentLink("/nonexistent", pods, new Readiness().register("w"),
            Duration.ofSeconds(1), metrics);

    static SeqPacketSocket.Packet packet(WorkloadRequest r, Integer... fds) {
        return new SeqPacketSocket.Packet(r.toByteArray(), List.of(fds), false);
    }

    double rejected(String reason) {
        return metrics.scrape().stream().filter(m -> m.getMetadata().getName().equals("ztunnel_inpod_rejections"))
                .flatMap(m -> m.getDataPoints().stream())
                .filter(p -> p.getLabels().get("reason").equals(reason))
                .mapToDouble(p -> ((io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot) p)
                        .getValue()).sum();
    }

    @Test
    void undecodableTruncatedAndEmptyRequestsAreRefusedPrecisely() throws Exception {
        assertThat(link.handle(new SeqPacketSocket.Packet(HexFormat.of().parseHex("0aff"), List.of(), false)))
                .startsWith("cannot decode WorkloadRequest (2 bytes)");
        assertThat(link.handle(new SeqPacketSocket.Packet(new byte[10], List.of(), true))).contains("truncated");
        assertThat(link.handle(packet(WorkloadRequest.getDefaultInstance())))
                .contains("without a known payload");
        assertThat(rejected("malformed")).isEqualTo(2);
        assertThat(rejected("truncated")).isEqualTo(1);
    }

    @Test
    void descriptorsAreRequiredExactlyOnAddAndStrayOnesAreClosed(@TempDir Path dir) throws Exception {
        WorkloadRequest add = WorkloadRequest.newBuilder().setAdd(AddWorkload.newBuilder().setUid("u1")).build();
        assertThat(link.handle(packet(add))).isEqualTo(
                "AddWorkload 'u1' must carry exactly one network-namespace descriptor, got 0");
        Path strayFile = Files.createFile(dir.resolve("stray"));
        int stray = LibC.INSTANCE.open(strayFile.toString(), LibC.O_RDONLY | LibC.O_CLOEXEC);
        WorkloadRequest del = WorkloadRequest.newBuilder().setDel(DelWorkload.newBuilder().setUid("u1")).build();
        assertThat(link.handle(packet(del, stray))).isEqualTo("DEL must not carry file descriptors, got 1");
        assertThat(opens(stray, strayFile)).as("the stray descriptor is closed").isFalse();
        Path plainFile = Files.createFile(dir.resolve("not-a-namespace"));
        int notANamespace = LibC.INSTANCE.open(plainFile.toString(), LibC.O_RDONLY | LibC.O_CLOEXEC);
        assertThat(link.handle(packet(add, notANamespace))).startsWith("AddWorkload 'u1': the file descriptor sent is "
                + "not a namespace");
        assertThat(opens(notANamespace, plainFile)).as("the refused descriptor is closed").isFalse();
        assertThat(rejected("netns_descriptor")).isEqualTo(3);
    }

    /**
     * Whether descriptor {@code fd} of this process still refers to {@code file}. Its number alone proves nothing: once
     * closed, another thread of the test JVM may be handed the same number for a file of its own.
     */
    static boolean opens(int fd, Path file) {
        try {
            return Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).equals(file.toRealPath());
        } catch (java.io.IOException closed) {
            return false;
        }
    }

    @Test
    void keepAfterTheSnapshotAndASecondSnapshotAreProtocolErrors() throws Exception {
        WorkloadRequest keep = WorkloadRequest.newBuilder().setKeep(KeepWorkload.newBuilder().setUid("u1")).build();
        WorkloadRequest snapshot = WorkloadRequest.newBuilder().setSnapshotSent(SnapshotSent.getDefaultInstance())
                .build();
        assertThat(link.handle(packet(keep))).isEmpty();
        assertThat(pods.ready()).isFalse();
        assertThat(link.handle(packet(snapshot))).isEmpty();
        assertThat(pods.ready()).isTrue();
        // deleting a pod ztunnel does not know is fine (the agent may repeat itself)
        WorkloadRequest del = WorkloadRequest.newBuilder().setDel(DelWorkload.newBuilder().setUid("gone")).build();
        assertThat(link.handle(packet(del))).isEmpty();
        assertThatThrownBy(() -> link.handle(packet(keep))).hasMessage("KeepWorkload 'u1' after SnapshotSent");
        assertThatThrownBy(() -> link.handle(packet(snapshot))).hasMessage("a second SnapshotSent on one connection");
        pods.connected(); // a new connection starts a new snapshot
        assertThat(pods.ready()).isFalse();
        assertThat(link.handle(packet(snapshot))).isEmpty();
    }

    @Test
    void istiosFieldNumbersOnTheWire() {
        // DelWorkload's uid is field 2 in Istio's zds.proto (AddWorkload's and KeepWorkload's are field 1)
        byte[] del = WorkloadRequest.newBuilder().setDel(DelWorkload.newBuilder().setUid("x")).build().toByteArray();
        assertThat(HexFormat.of().formatHex(del)).isEqualTo("1203" + "1201" + "78");
        byte[] keep = WorkloadRequest.newBuilder().setKeep(KeepWorkload.newBuilder().setUid("x")).build().toByteArray();
        assertThat(HexFormat.of().formatHex(keep)).isEqualTo("2a03" + "0a01" + "78");
    }

    @Test
    void originalDestinationDecodesSockaddrInAndIn6() {
        byte[] v4 = {2, 0, 0x1f, (byte) 0x90, 10, (byte) 251, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0};
        assertThat(OriginalDestination.decode(v4, true)).isEqualTo(new InetSocketAddress("10.251.0.2", 8080));
        byte[] v6 = new byte[28];
        v6[0] = 10;
        v6[2] = 0x1f;
        v6[3] = (byte) 0x90;
        v6[8] = (byte) 0xfd;
        v6[23] = 2;
        assertThat(OriginalDestination.decode(v6, false)).isEqualTo(new InetSocketAddress("fd00::2", 8080));
    }
}
