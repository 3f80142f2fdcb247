package io.jmesh.ca.kubernetes;

import io.jmesh.ca.root.RootStore;
import io.jmesh.ca.root.StateDirectory;
import io.jmesh.core.kubernetes.KubernetesApi;
import io.jmesh.core.kubernetes.KubernetesException;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;

/**
 * The root of trust in a Kubernetes Secret (Istio keeps its self-signed root in {@code istio-ca-secret}, type
 * {@code istio.io/ca-root}); each {@link RootStore} entry is one key of the Secret.
 *
 * <p>{@link #locked} reads the Secret, runs the work against that copy and writes it back with the
 * {@code resourceVersion} it read: if another replica or the CLI changed the Secret meanwhile the API answers 409
 * and the work runs again on the new contents. Replicas starting together thus agree on one generated root: the
 * second one's create fails and it adopts the first one's. Reads outside {@code locked} see the Secret as it is.
 *
 * <p>Blocking; thread-safe (a {@code locked} copy belongs to its thread).
 */
public final class SecretRootStore implements RootStore {

    /** Istio's Secret type for its self-signed root. */
    public static final String SECRET_TYPE = "istio.io/ca-root";
    private static final int MAX_ATTEMPTS = 8;

    /** One read of the Secret: its entries and the version to write against (null: it does not exist). */
    private static final class Copy {
        final Map<String, String> data;
        final String resourceVersion;
        boolean changed;

        Copy(Map<String, String> data, String resourceVersion) {
            this.data = data;
            this.resourceVersion = resourceVersion;
        }
    }

    private final KubernetesApi api;
    private final String namespace;
    private final String name;
    private final ThreadLocal<Copy> current = new ThreadLocal<>();

    public SecretRootStore(KubernetesApi api, String namespace, String name) {
        this.api = Objects.requireNonNull(api, "api");
        this.namespace = namespace;
        this.name = name;
    }

    @Override
    public boolean exists(String entry) {
        return readString(entry) != null;
    }

    @Override
    public String readString(String entry) {
        Copy c = current.get();
        return (c != null ? c : fetch()).data.get(entry);
    }

    @Override
    public void writeString(String entry, String content) {
        Copy c = inLock("write " + entry);
        if (!content.equals(c.data.put(entry, content))) {
            c.changed = true;
        }
    }

    @Override
    public void delete(String entry) {
        Copy c = inLock("delete " + entry);
        if (c.data.remove(entry) != null) {
            c.changed = true;
        }
    }

    @Override
    public <T> T locked(StateDirectory.LockedWork<T> work) {
        if (current.get() != null) {
            return run(work);
        }
        for (int attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
            Copy c = fetch();
            current.set(c);
            T result;
            try {
                result = run(work);
            } finally {
                current.remove();
            }
            if (!c.changed || store(c)) {
                return result;
            }
        }
        throw new KubernetesException("secret " + namespace + "/" + name + ": changed by someone else "
                + MAX_ATTEMPTS + " times in a row while this replica tried to update it; try again");
    }

    @Override
    public String stamp(String... names) {
        Copy c = fetch();
        return c.resourceVersion == null ? "-" : c.resourceVersion;
    }

    @Override
    public String where(String entry) {
        return "secret " + namespace + "/" + name + " key " + entry;
    }

    @Override
    public String describe() {
        return "secret:" + namespace + "/" + name;
    }

    private static <T> T run(StateDirectory.LockedWork<T> work) {
        try {
            return work.run();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private Copy inLock(String what) {
        Copy c = current.get();
        if (c == null) {
            throw new IllegalStateException(describe() + ": " + what + " outside locked()");
        }
        return c;
    }

    private String path() {
        return "api/v1/namespaces/" + namespace + "/secrets";
    }

    private Copy fetch() {
        KubernetesApi.Response r = api.get(path() + "/" + name);
        if (r.status() == 404) {
            return new Copy(new HashMap<>(), null);
        }
        if (!r.ok()) {
            throw new KubernetesException("reading secret " + namespace + "/" + name + " failed: " + r.reason()
                    + (r.status() == 403 ? " (expected: the ca ServiceAccount may get, create and update secrets in "
                            + namespace + ")" : ""));
        }
        Map<String, String> data = new HashMap<>();
        JsonObject d = r.body().getJsonObject("data", new JsonObject());
        for (String key : d.fieldNames()) {
            try {
                data.put(key, new String(Base64.getDecoder().decode(d.getString(key)), StandardCharsets.UTF_8));
            } catch (IllegalArgumentException | ClassCastException e) {
                throw new KubernetesException("secret " + namespace + "/" + name + ": data." + key
                        + " is not base64 (expected: a PEM text, base64-encoded as the API stores it)", e);
            }
        }
        String version = r.body().getJsonObject("metadata", new JsonObject()).getString("resourceVersion", "");
        return new Copy(data, version);
    }

    /** Writes {@code c} back; false when someone else changed the Secret since it was read. */
    private boolean store(Copy c) {
        JsonObject data = new JsonObject();
        c.data.forEach((k, v) -> data.put(k, Base64.getEncoder().encodeToString(v.getBytes(StandardCharsets.UTF_8))));
        JsonObject metadata = new JsonObject().put("name", name).put("namespace", namespace)
                .put("labels", new JsonObject().put("app.kubernetes.io/managed-by", "jmesh-ca"));
        JsonObject secret = new JsonObject().put("apiVersion", "v1").put("kind", "Secret").put("type", SECRET_TYPE)
                .put("metadata", metadata).put("data", data);
        KubernetesApi.Response r;
        if (c.resourceVersion == null) {
            r = api.post(path(), secret);
        } else {
            metadata.put("resourceVersion", c.resourceVersion);
            r = api.put(path() + "/" + name, secret);
        }
        if (r.status() == 409) {
            return false; // created or updated concurrently: run the work again on what is there now
        }
        if (!r.ok()) {
            throw new KubernetesException("writing secret " + namespace + "/" + name + " failed: " + r.reason()
                    + (r.status() == 403 ? " (expected: the ca ServiceAccount may get, create and update secrets in "
                            + namespace + ")" : ""));
        }
        return true;
    }
}
