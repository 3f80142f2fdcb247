package io.jmesh.loadtest.policy;

import io.jmesh.proto.config.v1.AuthorizationPolicySpec;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.config.v1.NamespaceSpec;
import io.jmesh.proto.config.v1.ObjectMeta;
import io.jmesh.proto.config.v1.Rule;
import io.jmesh.proto.config.v1.ServicePort;
import io.jmesh.proto.config.v1.ServiceSpec;
import io.jmesh.proto.config.v1.Source;
import io.jmesh.proto.config.v1.WorkloadEntrySpec;
import io.jmesh.proto.config.v1.WorkloadSelector;
import java.util.ArrayList;
import java.util.List;

/**
 * A synthetic mesh as config-log records: {@code namespaces} ambient namespaces; workload {@code i} in
 * {@code ns-(i % namespaces)} labelled {@code app: app-(i % services)} on {@code node-(i % nodes)}; service
 * {@code j} selects {@code app-j}; policy {@code k} selects one app and allows one principal.
 */
record MeshFixture(int workloads, int services, int policies, int nodes, int namespaces) {

    static final String UID_PREFIX = "Kubernetes/networking.istio.io/WorkloadEntry/";

    List<ConfigRecord> records() {
        List<ConfigRecord> out = new ArrayList<>();
        for (int n = 0; n < namespaces; n++) {
            out.add(ConfigRecord.newBuilder().setSchemaVersion(1).setKind("Namespace").setSource("loadtest")
                    .setMetadata(ObjectMeta.newBuilder().setName("ns-" + n)
                            .putLabels("istio.io/dataplane-mode", "ambient"))
                    .setNamespace(NamespaceSpec.getDefaultInstance()).build());
        }
        for (int j = 0; j < services; j++) {
            out.add(ConfigRecord.newBuilder().setSchemaVersion(1).setKind("Service").setSource("loadtest")
                    .setMetadata(meta("svc-" + j, ns(j)))
                    .setService(ServiceSpec.newBuilder().putSelector("app", "app-" + j)
                            .addClusterIps("10.96." + (j / 250) + "." + (j % 250 + 1))
                            .addPorts(ServicePort.newBuilder().setName("http").setPort(80).setTargetPortNumber(8080)))
                    .build());
        }
        for (int i = 0; i < workloads; i++) {
            out.add(workload(i, "node-" + (i % nodes)));
        }
        for (int k = 0; k < policies; k++) {
            out.add(policy("ap-" + k, (k * 2) % services, k));
        }
        return out;
    }

    String ns(int app) {
        return "ns-" + (app % namespaces);
    }

    ConfigRecord workload(int i, String node) {
        int app = i % services;
        return ConfigRecord.newBuilder().setSchemaVersion(1).setKind("WorkloadEntry").setSource("loadtest")
                .setMetadata(meta("wl-" + i, ns(app)))
                .setWorkloadEntry(WorkloadEntrySpec.newBuilder()
                        .setAddress("10." + (i / 65536 + 1) + "." + (i / 256 % 256) + "." + (i % 256))
                        .putLabels("app", "app-" + app).setServiceAccount("sa-" + app).setNode(node)).build();
    }

    String workloadUid(int i) {
        return UID_PREFIX + ns(i % services) + "/wl-" + i;
    }

    ConfigRecord policy(String name, int app, int principal) {
        return ConfigRecord.newBuilder().setSchemaVersion(1).setKind("AuthorizationPolicy").setSource("loadtest")
                .setMetadata(meta(name, ns(app)))
                .setAuthorizationPolicy(AuthorizationPolicySpec.newBuilder()
                        .setSelector(WorkloadSelector.newBuilder().putMatchLabels("app", "app-" + app))
                        .addRules(Rule.newBuilder().addFrom(Rule.From.newBuilder().setSource(Source.newBuilder()
                                .addPrincipals("cluster.local/ns/" + ns(app) + "/sa/sa-" + principal)))))
                .build();
    }

    private static ObjectMeta meta(String name, String ns) {
        return ObjectMeta.newBuilder().setName(name).setNamespace(ns).build();
    }
}
