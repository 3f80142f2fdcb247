package io.jmesh.ztunnel.inpod;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.admin.Readiness;
import io.jmesh.proto.istio.workload.zds.AddWorkload;
import io.jmesh.proto.istio.workload.zds.DelWorkload;
import io.jmesh.proto.istio.workload.zds.KeepWorkload;
import io.jmesh.proto.istio.workload.zds.SnapshotSent;
import io.jmesh.proto.istio.workload.zds.WorkloadInfo;
import io.jmesh.proto.istio.workload.zds.WorkloadRequest;
import io.jmesh.testing.fuzz.Fuzzer;
import io.jmesh.testing.fuzz.ProtoMutator;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Mutated ZDS requests (as bytes, and field by field: {@link ProtoMutator}; no descriptors) through the request handling: the answer is "" or a refusal that names the
 * problem, or a protocol error, never another exception; and nothing is started without a namespace.
 */
@Tag("fuzz")
class NodeAgentLinkFuzz {

    @Test
    void anyRequestIsAnsweredOrRefusedWithAReason() {
        PrometheusRegistry metrics = new PrometheusRegistry();
        PodProxies pods = new PodProxies(new PodProxy.Node(null, null, null, null, null, null, null, null, null, null),
                metrics, () -> {});
        NodeAgentLink link = new NodeAgentLink("/nonexistent", pods, new Readiness().register("w"),
                Duration.ofSeconds(1), metrics);
        WorkloadInfo info = WorkloadInfo.newBuilder().setName("p").setNamespace("ns").setServiceAccount("sa").build();
        Fuzzer.named("zds-request", 512).seeds(
                WorkloadRequest.newBuilder().setAdd(AddWorkload.newBuilder().setUid("u").setWorkloadInfo(info))
                        .build().toByteArray(),
                WorkloadRequest.newBuilder().setKeep(KeepWorkload.newBuilder().setUid("u")).build().toByteArray(),
                WorkloadRequest.newBuilder().setDel(DelWorkload.newBuilder().setUid("u")).build().toByteArray(),
                WorkloadRequest.newBuilder().setSnapshotSent(SnapshotSent.getDefaultInstance()).build().toByteArray())
                .mutator(ProtoMutator.of(WorkloadRequest.getDefaultInstance(), java.util.Map.of()))
                .run(input -> {
                    try {
                        String answer = link.handle(new SeqPacketSocket.Packet(input, List.of(), false));
                        assertThat(answer).satisfiesAnyOf(
                                a -> assertThat(a).isEmpty(),
                                a -> assertThat(a).startsWith("cannot decode WorkloadRequest"),
                                a -> assertThat(a).contains("must carry exactly one network-namespace descriptor"),
                                a -> assertThat(a).contains("without a known payload"));
                    } catch (PodProxies.ProtocolError e) {
                        assertThat(e.getMessage()).matches("(?s)(KeepWorkload .* after SnapshotSent"
                                + "|a second SnapshotSent on one connection)");
                        pods.connected();
                    }
                    assertThat(pods.all()).isEmpty();
                });
    }
}
