package io.jmesh.ca.kubernetes;

import io.jmesh.ca.auth.Caller;
import io.jmesh.ca.kubernetes.KubernetesSettings.ServingSecret;
import io.jmesh.ca.root.CaAuthority;
import io.jmesh.ca.server.ServingCertificate;
import io.jmesh.core.kubernetes.KubernetesApi;
import io.jmesh.core.kubernetes.KubernetesException;
import io.jmesh.core.tls.Certificates;
import io.jmesh.core.tls.Pem;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Kubernetes mode: the serving certificates of other control-plane services ({@code kubernetes.servingSecrets},
 * policy's delta ADS endpoint) in {@code kubernetes.io/tls} Secrets, issued under the signing material in force.
 * Clients verify them with the roots ca publishes, as Istio's ztunnel verifies istiod's xDS certificate.
 *
 * <p>Each check reads the Secret and writes only when what it holds is not current (missing, unreadable, issued
 * by other signing material, for other names, past half-life, or with other roots in {@code ca.crt}). Replicas
 * therefore need no coordination: a write carries the {@code resourceVersion} it read, the first one wins, and
 * the others find its certificate current when they read again. Blocking: call off the event loop.
 */
public final class ServingSecrets {

    public static final String SECRET_TYPE = "kubernetes.io/tls";
    public static final String CERT = "tls.crt";
    public static final String KEY = "tls.key";
    public static final String ROOTS = "ca.crt";
    private static final int MAX_ATTEMPTS = 4;
    private static final Logger log = LoggerFactory.getLogger(ServingSecrets.class);

    private final KubernetesApi api;
    private final String namespace;
    private final List<ServingSecret> specs;
    private final String trustDomain;
    private final Duration validity;
    private final Counter writes;
    private final Counter failures;
    /** The last failure logged per Secret: a failure that persists is logged once, not at every retry. */
    private final Map<String, String> lastFailure = new java.util.concurrent.ConcurrentHashMap<>();

    public ServingSecrets(KubernetesApi api, String namespace, List<ServingSecret> specs, String trustDomain,
            Duration validity, PrometheusRegistry registry) {
        this.api = api;
        this.namespace = namespace;
        this.specs = List.copyOf(specs);
        this.trustDomain = trustDomain;
        this.validity = validity;
        this.writes = Counter.builder().name("ca_serving_secret_writes_total")
                .help("Serving certificates written to their Secret, by why the one there was not current")
                .labelNames("secret", "reason").register(registry);
        this.failures = Counter.builder().name("ca_serving_secret_failures_total")
                .help("Checks of a serving-certificate Secret that failed (API errors; retried at the next check)")
                .labelNames("secret").register(registry);
    }

    public boolean isEmpty() {
        return specs.isEmpty();
    }

    /**
     * Makes every Secret hold a current certificate from {@code ca}. A Secret that cannot be checked or written is
     * logged and counted and does not stop the others.
     *
     * @return why each written Secret was rewritten, by name; true in {@code ok} when every check succeeded
     */
    public Result sync(CaAuthority ca, Instant now) {
        Map<String, String> written = new LinkedHashMap<>();
        boolean ok = true;
        for (ServingSecret spec : specs) {
            try {
                String reason = sync(spec, ca, now);
                if (reason != null) {
                    written.put(spec.secret(), reason);
                }
                if (lastFailure.remove(spec.secret()) != null) {
                    log.atInfo().addKeyValue("secret", namespace + "/" + spec.secret())
                            .log("serving certificate checked again after failures");
                }
            } catch (RuntimeException e) {
                ok = false;
                failures.labelValues(spec.secret()).inc();
                String message = String.valueOf(e.getMessage());
                boolean repeated = message.equals(lastFailure.put(spec.secret(), message));
                (repeated ? log.atDebug() : log.atWarn()).addKeyValue("secret", namespace + "/" + spec.secret())
                        .log("serving certificate not checked, will retry: {}", message);
            }
        }
        return new Result(written, ok);
    }

    /** The outcome of one pass: the Secrets written (name → reason) and whether every check succeeded. */
    public record Result(Map<String, String> written, boolean ok) {}

    private String sync(ServingSecret spec, CaAuthority ca, Instant now) {
        String path = "api/v1/namespaces/" + namespace + "/secrets";
        for (int attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
            KubernetesApi.Response current = api.get(path + "/" + spec.secret());
            if (current.status() != 404 && !current.ok()) {
                throw failure(spec, "reading", current);
            }
            JsonObject existing = current.status() == 404 ? null : current.body();
            if (existing != null && !SECRET_TYPE.equals(existing.getString("type", "Opaque"))) {
                throw new KubernetesException("secret " + namespace + "/" + spec.secret() + " has type "
                        + existing.getString("type", "Opaque") + " (expected: " + SECRET_TYPE
                        + "; delete it and ca writes it anew)");
            }
            String reason = staleness(existing == null ? null : decode(existing), spec, ca, trustDomain, now);
            if (reason == null) {
                return null;
            }
            ServingCertificate cert = ServingCertificate.issue(ca, trustDomain, spec.service(), spec.dnsSans(),
                    List.of(), validity, now);
            JsonObject secret = secret(spec, existing, cert, ca.rootsPem());
            KubernetesApi.Response r = existing == null ? api.post(path, secret)
                    : api.put(path + "/" + spec.secret(), secret);
            if (r.ok()) {
                writes.labelValues(spec.secret(), reason).inc();
                log.atInfo().addKeyValue("secret", namespace + "/" + spec.secret()).addKeyValue("reason", reason)
                        .addKeyValue("notAfter", cert.notAfter()).addKeyValue("dnsSans", spec.dnsSans())
                        .log("wrote the serving certificate of {}", spec.service());
                return reason;
            }
            if (r.status() != 409) {
                throw failure(spec, "writing", r);
            }
            // another replica wrote it meanwhile: judge what it wrote
        }
        throw new KubernetesException("secret " + namespace + "/" + spec.secret() + ": changed concurrently "
                + MAX_ATTEMPTS + " times in a row; will try again");
    }

    /**
     * Why {@code data} (the Secret's entries, null when there is none) is not a current serving certificate for
     * {@code spec} from {@code ca}: {@code missing}, {@code invalid}, {@code other_issuer}, {@code other_names},
     * {@code half_life}, {@code other_roots}; null when it is current.
     */
    static String staleness(Map<String, String> data, ServingSecret spec, CaAuthority ca, String trustDomain,
            Instant now) {
        if (data == null || data.get(CERT) == null || data.get(KEY) == null) {
            return "missing";
        }
        X509Certificate leaf;
        try {
            List<X509Certificate> chain = Pem.certificates(data.get(CERT));
            leaf = chain.get(0);
            if (!Certificates.keysMatch(Pem.privateKey(data.get(KEY)), leaf.getPublicKey())) {
                return "invalid";
            }
        } catch (RuntimeException e) {
            return "invalid";
        }
        try {
            leaf.verify(ca.signingCert().getPublicKey());
        } catch (GeneralSecurityException | RuntimeException e) {
            return "other_issuer";
        }
        if (!Set.copyOf(Certificates.uriSans(leaf)).equals(Set.of(Caller.serviceIdentity(trustDomain, spec.service())
                .uri())) || !Set.copyOf(Certificates.dnsSans(leaf)).equals(Set.copyOf(spec.dnsSans()))) {
            return "other_names";
        }
        Instant notBefore = leaf.getNotBefore().toInstant();
        Instant notAfter = leaf.getNotAfter().toInstant();
        if (!now.isBefore(notBefore.plus(Duration.between(notBefore, notAfter).dividedBy(2)))) {
            return "half_life";
        }
        if (!ca.rootsPem().equals(data.get(ROOTS))) {
            return "other_roots";
        }
        return null;
    }

    private JsonObject secret(ServingSecret spec, JsonObject existing, ServingCertificate cert, String rootsPem) {
        JsonObject metadata = new JsonObject().put("name", spec.secret()).put("namespace", namespace);
        if (existing != null) {
            // keep what others put on it (a Helm release's annotations, say); only the data is ours
            JsonObject old = existing.getJsonObject("metadata", new JsonObject());
            metadata.put("resourceVersion", old.getString("resourceVersion"));
            if (old.getJsonObject("annotations") != null) {
                metadata.put("annotations", old.getJsonObject("annotations"));
            }
            metadata.put("labels", old.getJsonObject("labels", new JsonObject()).copy());
        } else {
            metadata.put("labels", new JsonObject());
        }
        metadata.getJsonObject("labels").put("app.kubernetes.io/managed-by", "jmesh-ca");
        JsonObject data = new JsonObject().put(CERT, b64(cert.chainPem())).put(KEY, b64(cert.keyPem()))
                .put(ROOTS, b64(rootsPem));
        return new JsonObject().put("apiVersion", "v1").put("kind", "Secret").put("type", SECRET_TYPE)
                .put("metadata", metadata).put("data", data);
    }

    private Map<String, String> decode(JsonObject secret) {
        Map<String, String> out = new LinkedHashMap<>();
        JsonObject d = secret.getJsonObject("data", new JsonObject());
        for (String key : d.fieldNames()) {
            try {
                out.put(key, new String(Base64.getDecoder().decode(d.getString(key)), StandardCharsets.UTF_8));
            } catch (IllegalArgumentException | ClassCastException e) {
                out.put(key, null); // judged invalid above, and rewritten
            }
        }
        return out;
    }

    private static String b64(String text) {
        return Base64.getEncoder().encodeToString(text.getBytes(StandardCharsets.UTF_8));
    }

    private KubernetesException failure(ServingSecret spec, String what, KubernetesApi.Response r) {
        return new KubernetesException(what + " secret " + namespace + "/" + spec.secret() + " failed: " + r.reason()
                + (r.status() == 403 ? " (expected: the ca ServiceAccount may get, create and update the secret "
                        + spec.secret() + " in " + namespace + ")" : ""));
    }
}
