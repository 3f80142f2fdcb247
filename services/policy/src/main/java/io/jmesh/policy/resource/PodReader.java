package io.jmesh.policy.resource;

import com.fasterxml.jackson.databind.JsonNode;
import io.jmesh.proto.config.v1.WorkloadEntrySpec;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A Kubernetes {@code Pod} as the mesh sees it: once scheduled, its identity placed on its node; once it has an
 * address, while {@code Running} or {@code Pending}, a workload at {@code status.podIP} (and the other family's
 * {@code status.podIPs}), on {@code spec.nodeName}, with {@code spec.serviceAccountName}'s identity, the pod's
 * labels, its containers' named ports, ready or not ({@code Ready} condition), and its controller as the
 * workload name (a ReplicaSet's Deployment, a Job's CronJob), as istiod derives them.
 *
 * <p>Unlike the kinds written for the mesh, a pod is observed state with a large, changing schema: only these
 * fields are read and the rest is ignored, never an error.
 */
final class PodReader {

    /** Istio's network label on a pod (else its namespace's, else the cluster's). */
    static final String NETWORK_LABEL = "topology.istio.io/network";
    /** istiod's rule: a Job named {@code <cronjob>-<8 to 10 digits>} is its CronJob's. */
    private static final Pattern CRONJOB_SUFFIX = Pattern.compile("(?<=.)-[0-9]{8,10}$");

    private PodReader() {}

    /**
     * Why the pod has no record (not yet or no longer), or null when it has one: not scheduled yet, or finished.
     *
     * <p>A scheduled pod is recorded before it has an address: ztunnel is handed it (istio-cni, in-pod mode) and
     * asks the ca for its certificate before the kubelet reports its IP, and the ca places identities by the
     * records' node (as istiod's CA, by node and service account, IP or not). Such a record has no address and is
     * no workload: discovery leaves it out until the address comes.
     */
    static String notRecorded(JsonNode pod) {
        JsonNode status = pod.path("status");
        String phase = status.path("phase").asText("");
        if ("Succeeded".equals(phase) || "Failed".equals(phase)) {
            return "status.phase: " + phase + " (a finished pod holds no address: its IP may be reused)";
        }
        if (workloadAddress(status).isEmpty() && pod.path("spec").path("nodeName").asText("").isEmpty()) {
            return "spec.nodeName: not scheduled yet (a pod is recorded once on a node, a workload once it has an"
                    + " address)";
        }
        return null;
    }

    /**
     * {@code status.podIP} while the pod is {@code Running} or {@code Pending} (istiod's rule for pod workloads:
     * a Pending pod with an IP, its init containers still running, is one), else empty. In phase {@code Unknown}
     * (its node lost, the kubelet silent) the IP is the last one reported and may be gone: no workload there. Its
     * record still places its identity on its node, as istiod's CA authorizes a node's ztunnel for any pod indexed
     * on that node and service account, whatever its phase: should the node come back, its ztunnel can still renew.
     */
    private static String workloadAddress(JsonNode status) {
        String phase = status.path("phase").asText("");
        return "Running".equals(phase) || "Pending".equals(phase) ? status.path("podIP").asText("") : "";
    }

    static WorkloadEntrySpec read(JsonNode pod, Map<String, String> labels, String name, Problems p) {
        String why = notRecorded(pod);
        if (why != null) {
            int colon = why.indexOf(':');
            p.error(why.substring(0, colon), why.substring(colon + 2));
            return WorkloadEntrySpec.getDefaultInstance();
        }
        JsonNode spec = pod.path("spec");
        JsonNode status = pod.path("status");
        WorkloadEntrySpec.Builder b = WorkloadEntrySpec.newBuilder();
        // empty until the kubelet reports it (or once its node is lost): the record then places the pod's identity
        // and nothing more
        String address = workloadAddress(status);
        if (!address.isEmpty() && Names.ip(address, "status.podIP", p) != null) {
            b.setAddress(address);
        }
        JsonNode podIps = status.path("podIPs");
        for (int i = 0; i < podIps.size() && !address.isEmpty(); i++) {
            String other = podIps.get(i).path("ip").asText("");
            if (!other.isEmpty() && !other.equals(address)
                    && Names.ip(other, "status.podIPs[" + i + "].ip", p) != null) {
                b.addAdditionalAddresses(other);
            }
        }
        JsonNode containers = spec.path("containers");
        for (int c = 0; c < containers.size(); c++) {
            JsonNode ports = containers.get(c).path("ports");
            for (int i = 0; i < ports.size(); i++) {
                String portName = ports.get(i).path("name").asText("");
                int number = ports.get(i).path("containerPort").asInt(0);
                if (!portName.isEmpty() && number > 0 && number <= 65535) {
                    b.putPorts(portName, number);
                }
            }
        }
        b.putAllLabels(labels);
        String network = labels.get(NETWORK_LABEL);
        if (network != null) {
            b.setNetwork(network);
        }
        String sa = spec.path("serviceAccountName").asText("");
        if (!sa.isEmpty() && Names.dnsSubdomain(sa, "spec.serviceAccountName", p)) {
            b.setServiceAccount(sa);
        }
        String node = spec.path("nodeName").asText("");
        if (!node.isEmpty() && Names.dnsSubdomain(node, "spec.nodeName", p)) {
            b.setNode(node);
        }
        if (spec.path("hostNetwork").asBoolean(false)) {
            b.setHostNetwork(true); // its address is its node's: an endpoint of its services, never captured
        }
        boolean terminating = !pod.path("metadata").path("deletionTimestamp").asText("").isEmpty();
        b.setHealth(ready(status) && !terminating ? WorkloadEntrySpec.Health.HEALTHY
                : WorkloadEntrySpec.Health.UNHEALTHY);
        String workload = workloadName(pod, labels, name);
        if (!workload.equals(name)) {
            b.setWorkloadName(workload);
        }
        return b.build();
    }

    private static boolean ready(JsonNode status) {
        for (JsonNode c : status.path("conditions")) {
            if ("Ready".equals(c.path("type").asText())) {
                return "True".equals(c.path("status").asText());
            }
        }
        return false;
    }

    /**
     * The workload a pod belongs to, by its controller: a ReplicaSet made by a Deployment is named
     * {@code <deployment>-<pod-template-hash>}, a Job made by a CronJob {@code <cronjob>-<scheduled minute>};
     * any other controller by its own name; a pod without one by its own.
     */
    static String workloadName(JsonNode pod, Map<String, String> labels, String podName) {
        for (JsonNode owner : pod.path("metadata").path("ownerReferences")) {
            if (!owner.path("controller").asBoolean(false)) {
                continue;
            }
            String kind = owner.path("kind").asText("");
            String name = owner.path("name").asText("");
            if (name.isEmpty()) {
                break;
            }
            String hash = labels.get("pod-template-hash");
            if ("ReplicaSet".equals(kind) && hash != null && name.endsWith("-" + hash)) {
                return name.substring(0, name.length() - hash.length() - 1);
            }
            if ("Job".equals(kind) && CRONJOB_SUFFIX.matcher(name).find()) {
                return CRONJOB_SUFFIX.matcher(name).replaceFirst("");
            }
            return name;
        }
        return podName;
    }
}
