package io.jmesh.policy.kubernetes;

import java.util.List;

/**
 * A kind the Kubernetes source registers: where the API serves it for all namespaces, and whether it is a custom
 * resource (its CRD may not be installed: Istio's and the Gateway API's are optional here).
 */
public record WatchedKind(String kind, String path, boolean custom) {

    public static final List<WatchedKind> ALL = List.of(
            new WatchedKind("Namespace", "/api/v1/namespaces", false),
            new WatchedKind("Node", "/api/v1/nodes", false),
            new WatchedKind("Pod", "/api/v1/pods", false),
            new WatchedKind("Service", "/api/v1/services", false),
            new WatchedKind("WorkloadEntry", "/apis/networking.istio.io/v1/workloadentries", true),
            new WatchedKind("AuthorizationPolicy", "/apis/security.istio.io/v1/authorizationpolicies", true),
            new WatchedKind("PeerAuthentication", "/apis/security.istio.io/v1/peerauthentications", true),
            new WatchedKind("Gateway", "/apis/gateway.networking.k8s.io/v1/gateways", true),
            new WatchedKind("GatewayClass", "/apis/gateway.networking.k8s.io/v1/gatewayclasses", true));

    public static final List<String> NAMES = ALL.stream().map(WatchedKind::kind).toList();

    public static WatchedKind named(String kind) {
        return ALL.stream().filter(k -> k.kind.equals(kind)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("unknown kind " + kind));
    }

    /** {@code apiVersion} of the objects at {@link #path} (a list's items do not always carry it). */
    public String apiVersion() {
        String rest = path.startsWith("/api/") ? path.substring("/api/".length()) : path.substring("/apis/".length());
        return rest.substring(0, rest.lastIndexOf('/'));
    }
}
