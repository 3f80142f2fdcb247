package io.jmesh.policy.kubernetes;

import java.util.List;

/**
 * A kind the Kubernetes source registers: where the API serves it for all namespaces, whether it is a custom
 * resource (its CRD may not be installed: Istio's and the Gateway API's are optional here), and the older versions
 * to list instead where a cluster's CRD does not serve {@link #path}'s yet (Istio before 1.22 served its security
 * resources as {@code v1beta1} only).
 */
public record WatchedKind(String kind, String path, boolean custom, List<String> olderVersions) {

    public static final List<WatchedKind> ALL = List.of(
            new WatchedKind("Namespace", "/api/v1/namespaces", false, List.of()),
            new WatchedKind("Node", "/api/v1/nodes", false, List.of()),
            new WatchedKind("Pod", "/api/v1/pods", false, List.of()),
            new WatchedKind("Service", "/api/v1/services", false, List.of()),
            new WatchedKind("EndpointSlice", "/apis/discovery.k8s.io/v1/endpointslices", false, List.of()),
            new WatchedKind("WorkloadEntry", "/apis/networking.istio.io/v1/workloadentries", true,
                    List.of("v1beta1", "v1alpha3")),
            new WatchedKind("ServiceEntry", "/apis/networking.istio.io/v1/serviceentries", true,
                    List.of("v1beta1", "v1alpha3")),
            new WatchedKind("AuthorizationPolicy", "/apis/security.istio.io/v1/authorizationpolicies", true,
                    List.of("v1beta1")),
            new WatchedKind("PeerAuthentication", "/apis/security.istio.io/v1/peerauthentications", true,
                    List.of("v1beta1")),
            new WatchedKind("Gateway", "/apis/gateway.networking.k8s.io/v1/gateways", true, List.of("v1beta1")),
            new WatchedKind("GatewayClass", "/apis/gateway.networking.k8s.io/v1/gatewayclasses", true,
                    List.of("v1beta1")));

    public static final List<String> NAMES = ALL.stream().map(WatchedKind::kind).toList();

    public static WatchedKind named(String kind) {
        return ALL.stream().filter(k -> k.kind.equals(kind)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("unknown kind " + kind));
    }

    /** {@link #path}, then the same collection at each of {@link #olderVersions}: what to list, in that order. */
    public List<String> paths() {
        List<String> all = new java.util.ArrayList<>(List.of(path));
        int slash = path.lastIndexOf('/');
        int versionStart = path.lastIndexOf('/', slash - 1) + 1;
        for (String v : olderVersions) {
            all.add(path.substring(0, versionStart) + v + path.substring(slash));
        }
        return all;
    }

    /** {@code apiVersion} of the objects a collection path serves (a list's items do not always carry it). */
    public static String apiVersionOf(String path) {
        String rest = path.startsWith("/api/") ? path.substring("/api/".length()) : path.substring("/apis/".length());
        return rest.substring(0, rest.lastIndexOf('/'));
    }
}
