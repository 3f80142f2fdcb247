package io.jmesh.policy.resource;

import com.fasterxml.jackson.databind.JsonNode;
import io.jmesh.proto.config.v1.EndpointSliceSpec;
import java.util.Map;

/**
 * A Kubernetes {@code EndpointSlice} as the mesh uses it: the endpoints of a Service that are not pods, each a
 * plaintext workload (istiod's EndpointSlice workloads). An endpoint whose {@code targetRef} is a Pod is left out:
 * that pod is a workload of its own, with far more known about it. Like a pod, a slice is observed state: only
 * these fields are read and the rest is ignored.
 */
final class EndpointSliceReader {

    /** The label naming the Service a slice belongs to. */
    static final String SERVICE_NAME_LABEL = "kubernetes.io/service-name";

    private EndpointSliceReader() {}

    /**
     * Why the mesh has nothing to register from this slice (null: it has): no Service named, FQDN endpoints (as
     * istiod, not supported), or every endpoint a pod's (the common case: the slices of a Service with a selector).
     */
    static String notRegistered(JsonNode slice) {
        if (slice.path("metadata").path("labels").path(SERVICE_NAME_LABEL).asText("").isEmpty()) {
            return "metadata.labels." + SERVICE_NAME_LABEL + ": missing (a slice of no Service)";
        }
        String type = slice.path("addressType").asText("");
        if (!"IPv4".equals(type) && !"IPv6".equals(type)) {
            return "addressType: '" + type + "' (only IPv4 and IPv6 slices are registered)";
        }
        for (JsonNode e : slice.path("endpoints")) {
            if (!"Pod".equals(e.path("targetRef").path("kind").asText(""))) {
                return null;
            }
        }
        return "endpoints: none but pods' (each pod is a workload of its own)";
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
            if ("Pod".equals(e.path("targetRef").path("kind").asText(""))) {
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
}
