package io.jmesh.ca.kubernetes;

import io.jmesh.core.kubernetes.KubernetesApi;
import io.jmesh.core.kubernetes.KubernetesException;
import io.vertx.core.json.JsonObject;

/**
 * Publishes the trusted roots as a ConfigMap with key {@code root-cert.pem}, as istiod publishes
 * {@code istio-ca-root-cert}: pods (ztunnel, policy) mount it to verify the CA's serving certificate before they
 * hold any certificate of their own. Written only when its contents differ. Blocking; thread-safe.
 */
public final class RootCertConfigMap {

    public static final String KEY = "root-cert.pem";
    private static final int MAX_ATTEMPTS = 4;

    private final KubernetesApi api;
    private final String namespace;
    private final String name;

    public RootCertConfigMap(KubernetesApi api, String namespace, String name) {
        this.api = api;
        this.namespace = namespace;
        this.name = name;
    }

    /**
     * Makes the ConfigMap hold {@code rootsPem}.
     *
     * @return true when it was written, false when it already held them
     * @throws KubernetesException when the API refuses or cannot be reached
     */
    public boolean sync(String rootsPem) {
        String path = "api/v1/namespaces/" + namespace + "/configmaps";
        for (int attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
            KubernetesApi.Response current = api.get(path + "/" + name);
            if (current.status() != 404 && !current.ok()) {
                throw failure("reading", current);
            }
            JsonObject metadata = new JsonObject().put("name", name).put("namespace", namespace)
                    .put("labels", new JsonObject().put("app.kubernetes.io/managed-by", "jmesh-ca"));
            JsonObject map = new JsonObject().put("apiVersion", "v1").put("kind", "ConfigMap")
                    .put("metadata", metadata).put("data", new JsonObject().put(KEY, rootsPem));
            KubernetesApi.Response written;
            if (current.status() == 404) {
                written = api.post(path, map);
            } else {
                if (rootsPem.equals(current.body().getJsonObject("data", new JsonObject()).getString(KEY))) {
                    return false;
                }
                metadata.put("resourceVersion",
                        current.body().getJsonObject("metadata", new JsonObject()).getString("resourceVersion"));
                written = api.put(path + "/" + name, map);
            }
            if (written.ok()) {
                return true;
            }
            if (written.status() != 409) {
                throw failure("writing", written);
            }
        }
        throw new KubernetesException("configmap " + namespace + "/" + name + ": changed concurrently "
                + MAX_ATTEMPTS + " times in a row; will try again");
    }

    private KubernetesException failure(String what, KubernetesApi.Response r) {
        return new KubernetesException(what + " configmap " + namespace + "/" + name + " failed: " + r.reason()
                + (r.status() == 403 ? " (expected: the ca ServiceAccount may get, create and update configmaps in "
                        + namespace + ")" : ""));
    }
}
