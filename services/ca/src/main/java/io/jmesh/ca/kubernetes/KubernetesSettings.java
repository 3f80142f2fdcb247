package io.jmesh.ca.kubernetes;

import io.jmesh.core.config.Durations;
import io.jmesh.core.kubernetes.KubernetesConnection;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;

/**
 * ca's {@code kubernetes:} configuration: nodes authenticate with projected ServiceAccount tokens checked by
 * TokenReview, and the generated root of trust lives in a Secret. Defaults and documentation in
 * {@code ca-defaults.yaml}; every value is checked here and refused naming the key.
 */
public record KubernetesSettings(
        boolean enabled,
        String apiServer,
        String tokenFile,
        String caFile,
        String namespace,
        String rootSecret,
        String rootConfigMap,
        List<String> audiences,
        String nodeServiceAccount,
        List<String> serviceAccounts,
        Duration reviewCacheTtl,
        int reviewCacheSize,
        Duration requestTimeout,
        List<ServingSecret> servingSecrets,
        Duration servingSecretCheckInterval) {

    /**
     * A serving certificate this CA keeps, under the mesh root, in a {@code kubernetes.io/tls} Secret of the
     * control-plane namespace for another control-plane service (policy's delta ADS endpoint), as istiod serves
     * its own xDS with a certificate from the mesh CA: whoever trusts the mesh roots (the {@code rootConfigMap})
     * can verify it, an Istio ztunnel included.
     *
     * @param secret the Secret's name
     * @param service the service: URI SAN {@code spiffe://<trustDomain>/ns/istio-system/sa/<service>}
     * @param dnsSans the names clients reach it by (e.g. {@code policy.istio-system.svc}); at least one
     */
    public record ServingSecret(String secret, String service, List<String> dnsSans) {
        public ServingSecret {
            dnsSans = dnsSans == null ? List.of() : List.copyOf(dnsSans);
        }
    }

    /** Where a pod finds its own namespace. */
    public static final Path NAMESPACE_FILE = Path.of(KubernetesConnection.SERVICE_ACCOUNT_DIR, "namespace");

    // DNS-1123 label (namespaces, service accounts) and subdomain (Secret / ConfigMap names)
    private static final Pattern LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");
    private static final Pattern SUBDOMAIN = Pattern.compile(
            "(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");

    public KubernetesSettings {
        apiServer = apiServer == null ? "" : apiServer.trim();
        tokenFile = tokenFile == null ? "" : tokenFile.trim();
        caFile = caFile == null ? "" : caFile.trim();
        namespace = namespace == null ? "" : namespace.trim();
        rootConfigMap = rootConfigMap == null ? "" : rootConfigMap.trim();
        audiences = audiences == null ? List.of() : List.copyOf(audiences);
        serviceAccounts = serviceAccounts == null ? List.of() : List.copyOf(serviceAccounts);
        if (!namespace.isEmpty() && !LABEL.matcher(namespace).matches()) {
            throw new IllegalArgumentException("namespace: '" + namespace
                    + "' (expected: a Kubernetes namespace name, or empty for this pod's namespace)");
        }
        if (rootSecret == null || !SUBDOMAIN.matcher(rootSecret).matches()) {
            throw new IllegalArgumentException("rootSecret: '" + rootSecret + "' (expected: a Secret name)");
        }
        if (!rootConfigMap.isEmpty() && !SUBDOMAIN.matcher(rootConfigMap).matches()) {
            throw new IllegalArgumentException("rootConfigMap: '" + rootConfigMap
                    + "' (expected: a ConfigMap name, or empty for none)");
        }
        if (nodeServiceAccount == null || !LABEL.matcher(nodeServiceAccount).matches()) {
            throw new IllegalArgumentException("nodeServiceAccount: '" + nodeServiceAccount
                    + "' (expected: a ServiceAccount name)");
        }
        for (String sa : serviceAccounts) {
            if (sa == null || !LABEL.matcher(sa).matches()) {
                throw new IllegalArgumentException("serviceAccounts: '" + sa + "' (expected: ServiceAccount names)");
            }
            if (sa.equals(nodeServiceAccount)) {
                throw new IllegalArgumentException("serviceAccounts: '" + sa
                        + "' is the nodeServiceAccount (expected: control-plane services only)");
            }
        }
        for (String a : audiences) {
            if (a == null || a.isBlank()) {
                throw new IllegalArgumentException("audiences: an empty audience (expected: e.g. istio-ca)");
            }
        }
        if (reviewCacheTtl == null || reviewCacheTtl.isNegative() || reviewCacheTtl.compareTo(Duration.ofMinutes(10)) > 0) {
            throw new IllegalArgumentException("reviewCacheTtl: " + fmt(reviewCacheTtl) + " (expected: 0s..10m)");
        }
        if (reviewCacheSize < 0) {
            throw new IllegalArgumentException("reviewCacheSize: " + reviewCacheSize + " (expected: >= 0)");
        }
        new KubernetesConnection(apiServer, tokenFile, caFile, requestTimeout); // checks those four, naming the key
        servingSecrets = servingSecrets == null ? List.of() : List.copyOf(servingSecrets);
        java.util.Set<String> names = new java.util.HashSet<>();
        for (int i = 0; i < servingSecrets.size(); i++) {
            ServingSecret s = servingSecrets.get(i);
            String at = "servingSecrets[" + i + "]";
            if (s == null || s.secret() == null || !SUBDOMAIN.matcher(s.secret()).matches()) {
                throw new IllegalArgumentException(at + ".secret: '" + (s == null ? null : s.secret())
                        + "' (expected: a Secret name)");
            }
            if (s.secret().equals(rootSecret)) {
                throw new IllegalArgumentException(at + ".secret: '" + s.secret() + "' is the rootSecret (expected: a"
                        + " Secret of its own for each serving certificate)");
            }
            if (!names.add(s.secret())) {
                throw new IllegalArgumentException(at + ".secret: '" + s.secret() + "' is listed twice (expected: one"
                        + " Secret per serving certificate)");
            }
            if (s.service() == null || !LABEL.matcher(s.service()).matches()) {
                throw new IllegalArgumentException(at + ".service: '" + s.service()
                        + "' (expected: a service name, e.g. policy)");
            }
            if (s.dnsSans().isEmpty()) {
                throw new IllegalArgumentException(at + ".dnsSans: empty (expected: the names clients reach "
                        + s.service() + " by, e.g. " + s.service() + ".istio-system.svc)");
            }
            for (String d : s.dnsSans()) {
                if (d == null || !SUBDOMAIN.matcher(d).matches()) {
                    throw new IllegalArgumentException(at + ".dnsSans: '" + d + "' (expected: a lowercase DNS name)");
                }
            }
        }
        if (servingSecretCheckInterval == null || servingSecretCheckInterval.isZero()
                || servingSecretCheckInterval.isNegative()) {
            throw new IllegalArgumentException("servingSecretCheckInterval: " + fmt(servingSecretCheckInterval)
                    + " (expected: > 0)");
        }
    }

    /** How to reach the API server (the URL, token and CA file, or in-cluster). */
    public KubernetesConnection connection() {
        return new KubernetesConnection(apiServer, tokenFile, caFile, requestTimeout);
    }

    /** The namespace of the root Secret and of the control plane's ServiceAccounts. */
    public String effectiveNamespace() {
        if (!namespace.isEmpty()) {
            return namespace;
        }
        try {
            return Files.readString(NAMESPACE_FILE, StandardCharsets.UTF_8).trim();
        } catch (IOException e) {
            throw new IllegalStateException("kubernetes.namespace: empty and " + NAMESPACE_FILE
                    + " is unreadable (expected: running in a pod, or an explicit namespace)", e);
        }
    }

    private static String fmt(Duration d) {
        return d == null ? "missing" : d.isNegative() ? d.toString() : Durations.format(d);
    }
}
