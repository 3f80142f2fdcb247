package io.jmesh.policy.resource;

import com.fasterxml.jackson.databind.JsonNode;
import io.jmesh.proto.config.v1.EndpointSliceSpec;
import java.util.Map;

/**
 * A Kubernetes {@code EndpointSlice} as the mesh uses it: the endpoints of a Service that are not pods, each a
 * plaintext workload (istiod's EndpointSlice workloads), and the pods its endpoints name by {@code targetRef}, which
 * get the Service in their own workloads (istiod's services without selectors: a pod has far more known about it than
 * its endpoint, so it is never a workload of the slice). Like a pod, a slice is observed state: only these fields are
 * read and the rest is ignored.
 */
final class EndpointSliceReader {

    /** The label naming the Service a slice belongs to. */
    static final String SERVICE_NAME_LABEL = "kubernetes.io/service-name";

    /** The label naming the controller that writes a slice. */
    static final String MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by";
    /** Kubernetes' EndpointSlice controller: the slices of a Service with a selector, naming the pods it selects. */
    static final String ENDPOINTSLICE_CONTROLLER = "endpointslice-controller.k8s.io";

    private EndpointSliceReader() {}

    /**
     * Why the mesh has nothing to register from this slice (null: it has): no Service named, FQDN endpoints (as
     * istiod, not supported), no endpoints, or only pods in a slice of the EndpointSlice controller. That is the common
     * case, a slice of a Service with a selector (rewritten on every pod change): its pods are the ones the Service
     * selects, which list it already, so it would add nothing. Pods in any other slice (a Service without a selector,
     * its endpoints written by hand, by another controller or mirrored from an Endpoints object) get its Service.
     */
    static String notRegistered(JsonNode slice) {
        JsonNode labels = slice.path("metadata").path("labels");
        if (labels.path(SERVICE_NAME_LABEL).asText("").isEmpty()) {
            return "metadata.labels." + SERVICE_NAME_LABEL + ": missing (a slice of no Service)";
        }
        String type = slice.path("addressType").asText("");
        if (!"IPv4".equals(type) && !"IPv6".equals(type)) {
            return "addressType: '" + type + "' (only IPv4 and IPv6 slices are registered)";
        }
        JsonNode endpoints = slice.path("endpoints");
        if (endpoints.isEmpty()) {
            return "endpoints: none";
        }
        for (JsonNode e : endpoints) {
            if (!isPod(e)) {
                return null;
            }
        }
        if (!ENDPOINTSLICE_CONTROLLER.equals(labels.path(MANAGED_BY_LABEL).asText(""))) {
            return null;
        }
        return "endpoints: none but pods' in a slice of the EndpointSlice controller (the pods its Service selects,"
                + " each a workload of its own)";
    }

    private static boolean isPod(JsonNode endpoint) {
        return "Pod".equals(endpoint.path("targetRef").path("kind").asText(""));
    }

    static EndpointSliceSpec read(JsonNode slice, Map<String, String> labels, Problems p) {
        String why = notRegistered(slice);
        if (why != null) {
            int colon = why.indexOf(": ");
            p.error(why.substring(0, colon), why.substring(colon + 2));
            return EndpointSliceSpec.getDefaultInstance();
        }
        EndpointSliceSpec.Builder b = EndpointSliceSpec.newBuilder().setService(labels.get(SERVICE_NAME_LABEL));
        Names.dnsLabel(b.getService(), "metadata.labels." + SERVICE_NAME_LABEL, p);
        JsonNode endpoints = slice.path("endpoints");
        for (int i = 0; i < endpoints.size(); i++) {
            JsonNode e = endpoints.get(i);
            if (isPod(e)) {
                podRef(e.path("targetRef"), "endpoints[" + i + "].targetRef", p, b);
                continue;
            }
            EndpointSliceSpec.SliceEndpoint.Builder ep = EndpointSliceSpec.SliceEndpoint.newBuilder()
                    .setReady(e.path("conditions").path("ready").asBoolean(true));
            JsonNode addresses = e.path("addresses");
            for (int j = 0; j < addresses.size(); j++) {
                String a = addresses.get(j).asText("");
                if (Names.ip(a, "endpoints[" + i + "].addresses[" + j + "]", p) != null) {
                    ep.addAddresses(a);
                }
            }
            if (ep.getAddressesCount() > 0) {
                b.addEndpoints(ep);
            }
        }
        JsonNode ports = slice.path("ports");
        for (int i = 0; i < ports.size(); i++) {
            JsonNode port = ports.get(i);
            int number = port.path("port").asInt(0);
            if ("TCP".equals(port.path("protocol").asText("TCP")) && number > 0 && number <= 65535) {
                b.putPorts(port.path("name").asText(""), number);
            }
        }
        return b.build();
    }

    /**
     * The pod an endpoint's {@code targetRef} names (a bad name is refused: it could name no pod). istiod finds a pod's
     * slices by the reference's kind, namespace, name and uid, each equal to the pod's: a reference without namespace
     * or uid reaches no pod there, so it is left out here too, with a warning.
     */
    private static void podRef(JsonNode ref, String at, Problems p, EndpointSliceSpec.Builder b) {
        String name = ref.path("name").asText("");
        String namespace = ref.path("namespace").asText("");
        String uid = ref.path("uid").asText("");
        boolean ok = Names.dnsSubdomain(name, at + ".name", p);
        if (!namespace.isEmpty()) {
            ok &= Names.dnsLabel(namespace, at + ".namespace", p);
        }
        if (!ok) {
            return;
        }
        if (namespace.isEmpty() || uid.isEmpty()) {
            p.warn(at + ": names no " + (namespace.isEmpty() ? "namespace" : "uid") + ", so no pod (as in istiod,"
                    + " which matches a pod by namespace, name and uid): the endpoint is left out");
            return;
        }
        b.addPods(EndpointSliceSpec.PodRef.newBuilder().setNamespace(namespace).setName(name).setUid(uid));
    }
}
