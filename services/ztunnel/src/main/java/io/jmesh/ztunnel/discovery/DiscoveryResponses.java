package io.jmesh.ztunnel.discovery;

import com.google.protobuf.InvalidProtocolBufferException;
import io.jmesh.core.xds.XdsTypes;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.jmesh.proto.envoy.service.discovery.v3.Resource;
import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.ztunnel.authz.AuthorizationStore;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What one delta xDS response does to the stores, whoever sent it (policy, or an istiod): each resource is decoded
 * and checked alone ({@link AddressValidator}, {@link AuthorizationStore#problem}), a bad one is left out with a
 * reason naming it and its field, and the rest are applied with the response's removals in one update of each store
 * (Istio's ztunnel applies the valid part of a response and NACKs the rest). Never throws for any response.
 */
final class DiscoveryResponses {

    /**
     * What was applied and what was not.
     *
     * @param errors one reason per resource left out (each names the resource), or the unsubscribed type: the NACK's
     *     {@code error_detail} when not empty
     * @param accepted the resources applied, name to version
     */
    record Applied(List<String> errors, Map<String, String> accepted) {}

    private DiscoveryResponses() {}

    static Applied apply(DeltaDiscoveryResponse r, WorkloadStore store, AuthorizationStore policies) {
        List<String> errors = new ArrayList<>();
        Map<String, String> accepted = new LinkedHashMap<>();
        String type = r.getTypeUrl();
        if (XdsTypes.ADDRESS.equals(type)) {
            Map<String, Address> upserts = new LinkedHashMap<>();
            for (Resource res : r.getResourcesList()) {
                try {
                    Address a = res.getResource().unpack(Address.class);
                    String problem = AddressValidator.problem(res.getName(), a);
                    if (problem != null) {
                        errors.add(problem);
                        continue;
                    }
                    upserts.put(res.getName(), a);
                    accepted.put(res.getName(), res.getVersion());
                } catch (InvalidProtocolBufferException e) {
                    errors.add(res.getName() + ": cannot decode as istio.workload.Address: " + e.getMessage());
                }
            }
            store.apply(upserts, r.getRemovedResourcesList());
        } else if (XdsTypes.AUTHORIZATION.equals(type)) {
            List<Authorization> upserts = new ArrayList<>();
            for (Resource res : r.getResourcesList()) {
                try {
                    Authorization a = res.getResource().unpack(Authorization.class);
                    String expected = a.getNamespace() + "/" + a.getName();
                    if (!expected.equals(res.getName())) {
                        errors.add(res.getName() + ": resource name differs from namespace/name '" + expected + "'");
                        continue;
                    }
                    // a policy this ztunnel cannot enforce is NACKed alone; the store would only skip it
                    String problem = AuthorizationStore.problem(a);
                    if (problem != null) {
                        errors.add(res.getName() + ": " + problem);
                        continue;
                    }
                    upserts.add(a);
                    accepted.put(res.getName(), res.getVersion());
                } catch (InvalidProtocolBufferException e) {
                    errors.add(res.getName() + ": cannot decode as istio.security.Authorization: " + e.getMessage());
                }
            }
            policies.apply(upserts, r.getRemovedResourcesList());
        } else {
            errors.add("unsubscribed type " + type);
        }
        return new Applied(errors, accepted);
    }
}
