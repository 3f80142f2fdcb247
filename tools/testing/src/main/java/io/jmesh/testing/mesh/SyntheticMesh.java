package io.jmesh.testing.mesh;

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
 * A synthetic mesh of any size as config-log records, for benchmarks and scale tests: {@code namespaces} ambient
 * namespaces; workload {@code i} ({@code wl-i}) in {@code ns-(app % namespaces)} labelled {@code app: app-(i %
 * services)} on {@code node-(i % nodes)}; service {@code j} ({@code svc-j}) selects {@code app-j}; policy
 * {@code k} ({@code ap-k}) selects app {@code 2k % services} and allows one principal.
 *
 * <p>Deterministic: the same parameters always give the same records, so two runs (or two replicas) build the
 * same resources and versions.
 */
public record SyntheticMesh(int workloads, int services, int policies, int nodes, int namespaces) {

    /** Prefix of a workload's uid (cluster id {@code Kubernetes}). */
    public static final String UID_PREFIX = "Kubernetes/networking.istio.io/WorkloadEntry/";

    /** Every record: the namespaces, the services, the workloads, then the policies. */
    public List<ConfigRecord> records() {
        List<ConfigRecord> out = new ArrayList<>();
        for (int n = 0; n < namespaces; n++) {
            out.add(ConfigRecord.newBuilder().setSchemaVersion(1).setKind("Namespace").setSource("loadtest")
                    .setMetadata(ObjectMeta.newBuilder().setName("ns-" + n)
                            .putLabels("istio.io/dataplane-mode", "ambient"))
                    .setNamespace(NamespaceSpec.getDefaultInstance()).build());
        }
        for (int j = 0; j < services; j++) {
            out.add(service(j, 80));
        }
        for (int i = 0; i < workloads; i++) {
            out.add(workload(i, "node-" + (i % nodes)));
        }
        for (int k = 0; k < policies; k++) {
            out.add(policy("ap-" + k, (k * 2) % services, k));
        }
        return out;
    }

    /** The namespace of app (and service) {@code app}. */
    public String ns(int app) {
        return "ns-" + (app % namespaces);
    }

    /** Workload {@code i} placed on {@code node}. */
    public ConfigRecord workload(int i, String node) {
        int app = i % services;
        return ConfigRecord.newBuilder().setSchemaVersion(1).setKind("WorkloadEntry").setSource("loadtest")
                .setMetadata(meta("wl-" + i, ns(app)))
                .setWorkloadEntry(WorkloadEntrySpec.newBuilder()
                        .setAddress("10." + (i / 65536 + 1) + "." + (i / 256 % 256) + "." + (i % 256))
                        .putLabels("app", "app-" + app).setServiceAccount("sa-" + app).setNode(node)).build();
    }

    /** The uid (and resource name) of workload {@code i}. */
    public String workloadUid(int i) {
        return UID_PREFIX + ns(i % services) + "/wl-" + i;
    }

    /** Service {@code j} ({@code svc-j}, selecting {@code app-j}) with one HTTP port {@code port}. */
    public ConfigRecord service(int j, int port) {
        return ConfigRecord.newBuilder().setSchemaVersion(1).setKind("Service").setSource("loadtest")
                .setMetadata(meta("svc-" + j, ns(j)))
                .setService(ServiceSpec.newBuilder().putSelector("app", "app-" + j)
                        .addClusterIps("10.96." + (j / 250) + "." + (j % 250 + 1))
                        .addPorts(ServicePort.newBuilder().setName("http").setPort(port).setTargetPortNumber(8080)))
                .build();
    }

    /** The resource name of service {@code j} under {@code domainSuffix} (e.g. {@code cluster.local}). */
    public String serviceName(int j, String domainSuffix) {
        return ns(j) + "/svc-" + j + "." + ns(j) + ".svc." + domainSuffix;
    }

    /** An ALLOW policy {@code name} selecting {@code app-<app>}, allowing {@code sa-<principal>} of its namespace. */
    public ConfigRecord policy(String name, int app, int principal) {
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
