package io.jmesh.ca.kubernetes;

import io.jmesh.core.kubernetes.KubernetesApi;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.jmesh.ca.kubernetes.KubernetesSettings.ServingSecret;
import io.jmesh.ca.root.CaAuthority;
import io.jmesh.ca.root.LocalRoots;
import io.jmesh.ca.server.ServingCertificate;
import io.jmesh.testing.kubernetes.KubernetesApiServer;
import io.jmesh.core.tls.Certificates;
import io.jmesh.core.tls.Pem;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * policy's serving certificate kept by ca in a {@code kubernetes.io/tls} Secret (mock API server in CRUD mode):
 * written once and then left alone while current, by any number of replicas; written again at half-life, after
 * the signing material changed, for new names, and over content it cannot use; a Secret it may not write is
 * reported and does not stop the others.
 */
@Timeout(60)
class ServingSecretsTest {

    static final String NS = "istio-system";
    static final String TD = "cluster.local";
    static final Duration VALIDITY = Duration.ofHours(24);
    static final ServingSecret POLICY = new ServingSecret("policy-tls", "policy",
            List.of("policy.istio-system.svc", "policy.istio-system.svc.cluster.local"));

    KubernetesApiServer k8s;
    KubernetesApi api;
    PrometheusRegistry registry;
    CaAuthority ca;
    Instant now = Instant.now();

    @BeforeEach
    void start() {
        k8s = new KubernetesApiServer();
        api = KubernetesApi.create(KubernetesTokenReviewerTest.settings(k8s.url(), Duration.ZERO).connection());
        registry = new PrometheusRegistry();
        ca = authority("root-a");
    }

    @AfterEach
    void stop() {
        k8s.close();
    }

    CaAuthority authority(String secret) {
        return new LocalRoots(new SecretRootStore(api, NS, secret), TD, Duration.ofDays(3650), Clock.systemUTC())
                .load();
    }

    ServingSecrets replica(ServingSecret... specs) {
        return new ServingSecrets(api, NS, List.of(specs), TD, VALIDITY, registry);
    }

    /** Another replica: its own process, its own metrics. */
    ServingSecrets otherReplica(ServingSecret... specs) {
        return new ServingSecrets(api, NS, List.of(specs), TD, VALIDITY, new PrometheusRegistry());
    }

    Secret secret(String name) {
        return k8s.client().secrets().inNamespace(NS).withName(name).get();
    }

    static String b64(String text) {
        return Base64.getEncoder().encodeToString(text.getBytes(StandardCharsets.UTF_8));
    }

    static String entry(Secret s, String key) {
        return new String(Base64.getDecoder().decode(s.getData().get(key)), StandardCharsets.UTF_8);
    }

    double writes(String reason) {
        return registry.scrape().stream().filter(m -> m.getMetadata().getName().equals("ca_serving_secret_writes"))
                .flatMap(m -> ((CounterSnapshot) m).getDataPoints().stream())
                .filter(d -> reason.equals(d.getLabels().get("reason"))).mapToDouble(d -> d.getValue()).sum();
    }

    @Test
    void writesOneCertificateUnderTheMeshRootThatEveryReplicaThenLeavesAlone() throws Exception {
        assertThat(replica(POLICY).sync(ca, now).written()).containsExactly(Map.entry("policy-tls", "missing"));
        Secret s = secret("policy-tls");
        assertThat(s.getType()).isEqualTo("kubernetes.io/tls");
        assertThat(s.getMetadata().getLabels()).containsEntry("app.kubernetes.io/managed-by", "jmesh-ca");
        List<X509Certificate> chain = Pem.certificates(entry(s, "tls.crt"));
        X509Certificate leaf = chain.get(0);
        Certificates.verifyChain(chain, ca.roots(), Date.from(now));
        assertThat(entry(s, "ca.crt")).isEqualTo(ca.rootsPem());
        assertThat(Certificates.keysMatch(Pem.privateKey(entry(s, "tls.key")), leaf.getPublicKey())).isTrue();
        assertThat(Certificates.uriSans(leaf)).containsExactly("spiffe://cluster.local/ns/istio-system/sa/policy");
        assertThat(leaf.getSubjectAlternativeNames().stream().map(san -> String.valueOf(san.get(1))))
                .contains("policy.istio-system.svc", "policy.istio-system.svc.cluster.local");
        assertThat(leaf.getExtendedKeyUsage()).containsExactly("1.3.6.1.5.5.7.3.1"); // serverAuth
        assertThat(Duration.between(leaf.getNotBefore().toInstant(), leaf.getNotAfter().toInstant()))
                .isLessThanOrEqualTo(VALIDITY.plusMinutes(5));

        String version = s.getMetadata().getResourceVersion();
        ServingSecrets.Result again = otherReplica(POLICY).sync(ca, now.plus(Duration.ofHours(11)));
        assertThat(again.ok()).isTrue();
        assertThat(again.written()).as("current: a second replica, or a later check, writes nothing").isEmpty();
        assertThat(secret("policy-tls").getMetadata().getResourceVersion()).isEqualTo(version);
        assertThat(writes("missing")).isEqualTo(1);
    }

    @Test
    void writesANewOneAtHalfLifeAfterARootChangeAndForNewNames() throws Exception {
        ServingSecrets secrets = replica(POLICY);
        secrets.sync(ca, now);
        String first = entry(secret("policy-tls"), "tls.crt");

        assertThat(secrets.sync(ca, now.plus(Duration.ofHours(13))).written())
                .containsExactly(Map.entry("policy-tls", "half_life"));
        String renewed = entry(secret("policy-tls"), "tls.crt");
        assertThat(renewed).isNotEqualTo(first);

        CaAuthority rotated = authority("root-b");
        assertThat(secrets.sync(rotated, now.plus(Duration.ofHours(13))).written())
                .containsExactly(Map.entry("policy-tls", "other_issuer"));
        Secret s = secret("policy-tls");
        Certificates.verifyChain(Pem.certificates(entry(s, "tls.crt")), rotated.roots(),
                Date.from(now.plus(Duration.ofHours(13))));
        assertThat(entry(s, "ca.crt")).isEqualTo(rotated.rootsPem());

        ServingSecret moreNames = new ServingSecret("policy-tls", "policy",
                List.of("policy.istio-system.svc", "policy.mesh.example"));
        assertThat(otherReplica(moreNames).sync(rotated, now.plus(Duration.ofHours(13))).written())
                .containsExactly(Map.entry("policy-tls", "other_names"));
        assertThat(writes("half_life") + writes("other_issuer")).isEqualTo(2);
    }

    @Test
    void replacesWhatItCannotUseKeepingOthersAnnotationsAndReportsASecretItCannotWrite() throws Exception {
        // the Secret an earlier chart generated (self-signed root of its own), still owned by the Helm release
        CaAuthority chartRoot = authority("chart-root");
        ServingCertificate old = ServingCertificate.issue(chartRoot, TD, "policy", POLICY.dnsSans(), List.of(),
                Duration.ofDays(3650), now);
        k8s.client().secrets().inNamespace(NS).resource(new SecretBuilder().withNewMetadata().withName("policy-tls")
                .addToAnnotations("meta.helm.sh/release-name", "jmesh").endMetadata().withType("kubernetes.io/tls")
                .addToData("tls.crt", b64(old.chainPem())).addToData("tls.key", b64(old.keyPem())).build())
                .create();
        // a key that is not PEM, and a Secret of a type whose contents ca must not replace
        k8s.client().secrets().inNamespace(NS).resource(new SecretBuilder().withNewMetadata().withName("waypoint-tls")
                .endMetadata().withType("kubernetes.io/tls").addToData("tls.crt", b64(old.chainPem()))
                .addToData("tls.key", b64("garbage")).build()).create();
        k8s.client().secrets().inNamespace(NS).resource(new SecretBuilder().withNewMetadata().withName("opaque-tls")
                .endMetadata().withType("Opaque").addToData("token", b64("keep me")).build()).create();

        ServingSecrets.Result r = replica(new ServingSecret("opaque-tls", "other", List.of("other.svc")), POLICY,
                new ServingSecret("waypoint-tls", "policy", POLICY.dnsSans())).sync(ca, now);
        assertThat(r.ok()).isFalse();
        assertThat(r.written()).containsExactly(Map.entry("policy-tls", "other_issuer"),
                Map.entry("waypoint-tls", "invalid"));
        Secret policy = secret("policy-tls");
        assertThat(policy.getMetadata().getAnnotations()).containsEntry("meta.helm.sh/release-name", "jmesh");
        Certificates.verifyChain(Pem.certificates(entry(policy, "tls.crt")), ca.roots(), Date.from(now));
        assertThat(entry(secret("opaque-tls"), "token")).isEqualTo("keep me");
        assertThat(registry.scrape().stream()
                .filter(m -> m.getMetadata().getName().equals("ca_serving_secret_failures"))
                .flatMap(m -> ((CounterSnapshot) m).getDataPoints().stream())
                .filter(d -> "opaque-tls".equals(d.getLabels().get("secret"))).mapToDouble(d -> d.getValue()).sum())
                .isEqualTo(1);
    }

    @Test
    void judgesContentWithoutTheApi() {
        ServingCertificate cert = ServingCertificate.issue(ca, TD, "policy", POLICY.dnsSans(), List.of(), VALIDITY,
                now);
        Map<String, String> data = Map.of("tls.crt", cert.chainPem(), "tls.key", cert.keyPem(), "ca.crt",
                ca.rootsPem());
        assertThat(ServingSecrets.staleness(data, POLICY, ca, TD, now)).isNull();
        assertThat(ServingSecrets.staleness(null, POLICY, ca, TD, now)).isEqualTo("missing");
        assertThat(ServingSecrets.staleness(Map.of("tls.crt", cert.chainPem()), POLICY, ca, TD, now))
                .isEqualTo("missing");
        ServingCertificate other = ServingCertificate.issue(ca, TD, "policy", POLICY.dnsSans(), List.of(), VALIDITY,
                now);
        assertThat(ServingSecrets.staleness(Map.of("tls.crt", cert.chainPem(), "tls.key", other.keyPem()), POLICY,
                ca, TD, now)).as("key of another certificate").isEqualTo("invalid");
        assertThat(ServingSecrets.staleness(data, new ServingSecret("policy-tls", "waypoint-mgr", POLICY.dnsSans()),
                ca, TD, now)).isEqualTo("other_names");
        assertThat(ServingSecrets.staleness(data, POLICY, ca, "other.domain", now)).isEqualTo("other_names");
        assertThat(ServingSecrets.staleness(Map.of("tls.crt", cert.chainPem(), "tls.key", cert.keyPem(), "ca.crt",
                "old roots"), POLICY, ca, TD, now)).isEqualTo("other_roots");
    }
}
