package io.jmesh.policy.resource;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.proto.config.v1.WorkloadEntrySpec;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Pods as the API server serves them ({@code kubectl get pod -o yaml}), read into workloads. */
class PodReaderTest {

    final ManifestReader reader = new ManifestReader("istio-system");

    static final String RUNNING = """
            apiVersion: v1
            kind: Pod
            metadata:
              name: reviews-v2-6c8f9d7b4-kq2zt
              generateName: reviews-v2-6c8f9d7b4-
              namespace: shop
              uid: 3f0c2a52-8c1e-4d1b-9b57-0c4f4c4b2f11
              resourceVersion: "81723"
              creationTimestamp: "2026-12-01T10:00:00Z"
              labels: {app: reviews, version: v2, pod-template-hash: 6c8f9d7b4, topology.istio.io/network: net-a}
              annotations: {kubectl.kubernetes.io/restartedAt: "2026-12-01T09:59:00Z"}
              ownerReferences:
              - {apiVersion: apps/v1, kind: ReplicaSet, name: reviews-v2-6c8f9d7b4, uid: 1, controller: true,
                 blockOwnerDeletion: true}
            spec:
              nodeName: node-b
              serviceAccountName: bookinfo-reviews
              serviceAccount: bookinfo-reviews
              restartPolicy: Always
              dnsPolicy: ClusterFirst
              containers:
              - name: reviews
                image: docker.io/istio/examples-bookinfo-reviews-v2:1.20.2
                ports: [{name: http, containerPort: 9080, protocol: TCP}, {containerPort: 9443}]
                resources: {requests: {cpu: 10m}}
              - name: metrics
                image: exporter
                ports: [{name: metrics, containerPort: 9102}]
              volumes: [{name: tmp, emptyDir: {}}]
              tolerations: [{key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute}]
            status:
              phase: Running
              hostIP: 172.18.0.3
              podIP: 10.244.2.9
              podIPs: [{ip: 10.244.2.9}, {ip: "fd00:10:244:2::9"}]
              qosClass: Burstable
              startTime: "2026-12-01T10:00:01Z"
              conditions:
              - {type: Initialized, status: "True"}
              - {type: Ready, status: "True"}
              - {type: ContainersReady, status: "True"}
              containerStatuses: [{name: reviews, ready: true, restartCount: 0}]
            """;

    @Test
    void aRunningPodIsAWorkloadAndTheRestOfItsSchemaIsIgnored() {
        List<ParsedObject> all = reader.read(RUNNING);
        assertThat(all).hasSize(1);
        ParsedObject o = all.get(0);
        assertThat(o.errors()).isEmpty();
        assertThat(o.key().toString()).isEqualTo("Pod/shop/reviews-v2-6c8f9d7b4-kq2zt");
        assertThat(o.record().getMetadata().getUid()).isEqualTo("3f0c2a52-8c1e-4d1b-9b57-0c4f4c4b2f11");
        WorkloadEntrySpec w = o.record().getWorkloadEntry();
        assertThat(w.getAddress()).isEqualTo("10.244.2.9");
        assertThat(w.getAdditionalAddressesList()).containsExactly("fd00:10:244:2::9");
        assertThat(w.getNode()).isEqualTo("node-b");
        assertThat(w.getServiceAccount()).isEqualTo("bookinfo-reviews");
        assertThat(w.getPortsMap()).as("named container ports only").containsOnlyKeys("http", "metrics")
                .containsEntry("http", 9080);
        assertThat(w.getLabelsMap()).containsEntry("app", "reviews");
        assertThat(w.getNetwork()).isEqualTo("net-a");
        assertThat(w.getHealth()).isEqualTo(WorkloadEntrySpec.Health.HEALTHY);
        assertThat(w.getWorkloadName()).isEqualTo("reviews-v2");
    }

    @Test
    void notReadyAndTerminatingPodsAreUnhealthy() {
        assertThat(read(RUNNING.replace("{type: Ready, status: \"True\"}", "{type: Ready, status: \"False\"}"))
                .getHealth()).isEqualTo(WorkloadEntrySpec.Health.UNHEALTHY);
        assertThat(read(RUNNING.replace("  creationTimestamp:", "  deletionTimestamp: \"2026-12-01T11:00:00Z\"\n"
                + "  deletionGracePeriodSeconds: 30\n  creationTimestamp:")).getHealth())
                .isEqualTo(WorkloadEntrySpec.Health.UNHEALTHY);
    }

    @Test
    void aHostNetworkPodIsAWorkloadOnItsNodesAddress() {
        WorkloadEntrySpec spec = read(RUNNING.replace("  nodeName: node-b", "  nodeName: node-b\n  hostNetwork: true"));
        assertThat(spec.getHostNetwork()).isTrue();
        assertThat(spec.getAddress()).isEqualTo("10.244.2.9");
        assertThat(read(RUNNING).getHostNetwork()).isFalse();
    }

    @Test
    void aScheduledPodWithoutAddressIsRecordedForPlacementOnly() {
        WorkloadEntrySpec w = read(RUNNING.replace("  podIP: 10.244.2.9\n", "").replace("phase: Running",
                "phase: Pending"));
        assertThat(w.getNode()).isEqualTo("node-b");
        assertThat(w.getServiceAccount()).isEqualTo("bookinfo-reviews");
        assertThat(w.getAddress()).as("none yet: placed, no workload").isEmpty();
        assertThat(w.getAdditionalAddressesList()).as("status.podIPs without status.podIP is not trusted").isEmpty();
    }

    @Test
    void aPodInPhaseUnknownIsPlacedButNoWorkload() {
        // the node was lost: istiod builds workloads only for Running and Pending pods, but its CA's node
        // authorizer indexes every pod by node and service account, whatever its phase
        ParsedObject o = reader.read(RUNNING.replace("phase: Running", "phase: Unknown")).get(0);
        assertThat(o.errors()).isEmpty();
        WorkloadEntrySpec w = o.record().getWorkloadEntry();
        assertThat(w.getNode()).isEqualTo("node-b");
        assertThat(w.getServiceAccount()).isEqualTo("bookinfo-reviews");
        assertThat(w.getAddress()).as("placed only: no workload at its last known IP").isEmpty();
        assertThat(w.getAdditionalAddressesList()).isEmpty();
    }

    @Test
    void podsThatHaveNoRecordAreRefusedSayingWhy() {
        String unscheduled = RUNNING.replace("  podIP: 10.244.2.9\n", "").replace("  nodeName: node-b\n", "")
                .replace("phase: Running", "phase: Pending");
        assertThat(reader.read(unscheduled).get(0).errors()).extracting(Object::toString).containsExactly(
                "spec.nodeName: not scheduled yet (a pod is recorded once on a node, a workload once it has an"
                        + " address)");
        assertThat(reader.read(RUNNING.replace("phase: Running", "phase: Succeeded")).get(0).errors())
                .extracting(Problems.FieldError::path).containsExactly("status.phase");
        assertThat(reader.read(RUNNING.replace("  podIP: 10.244.2.9\n", "").replace("phase: Running",
                "phase: Failed")).get(0).errors()).as("finished before it had an address: not placed either")
                .extracting(Problems.FieldError::path).containsExactly("status.phase");
        assertThat(ManifestReader.podNotRecorded(
                "{\"spec\":{},\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.1\"}}")).isNull();
        assertThat(ManifestReader.podNotRecorded("{\"spec\":{\"nodeName\":\"n\"},\"status\":{}}")).isNull();
        assertThat(reader.read(RUNNING.replace("podIP: 10.244.2.9", "podIP: 10.244.2.999")).get(0).errors())
                .extracting(Problems.FieldError::path).containsExactly("status.podIP");
    }

    @ParameterizedTest(name = "{0} {1} -> {2}")
    @CsvSource({
        "ReplicaSet, reviews-v2-6c8f9d7b4, reviews-v2",   // a Deployment's
        "ReplicaSet, legacy-rs, legacy-rs",               // a bare ReplicaSet (no hash suffix)
        "Job, backup-29012345, backup",                   // a CronJob's (scheduled-minute suffix)
        "Job, migrate, migrate",
        "Job, migrate-1, migrate-1",                      // istiod strips 8 to 10 digits only
        "Job, batch-2024061512, batch",
        "Job, batch-20240615123, batch-20240615123",
        "Job, -29012345, -29012345",                      // nothing before the suffix: no CronJob
        "StatefulSet, db, db",
        "DaemonSet, agent, agent",
    })
    void theWorkloadNameIsTheController(String kind, String owner, String expected) {
        String pod = RUNNING.replace("kind: ReplicaSet, name: reviews-v2-6c8f9d7b4", "kind: " + kind + ", name: "
                + owner).replace("pod-template-hash: 6c8f9d7b4", "pod-template-hash: " + (kind.equals("ReplicaSet")
                && !owner.equals("legacy-rs") ? "6c8f9d7b4" : "none"));
        assertThat(read(pod).getWorkloadName()).isEqualTo(expected);
    }

    @Test
    void aPodWithoutControllerIsItsOwnWorkload() {
        String bare = RUNNING.substring(0, RUNNING.indexOf("  ownerReferences:"))
                + RUNNING.substring(RUNNING.indexOf("spec:"));
        assertThat(read(bare).getWorkloadName()).as("empty: the pod's own name").isEmpty();
    }

    WorkloadEntrySpec read(String yaml) {
        ParsedObject o = reader.read(yaml).get(0);
        assertThat(o.errors()).isEmpty();
        return o.record().getWorkloadEntry();
    }
}
