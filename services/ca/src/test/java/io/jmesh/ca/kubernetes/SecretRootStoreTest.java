package io.jmesh.ca.kubernetes;

import io.jmesh.core.kubernetes.KubernetesApi;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Secret;
import io.jmesh.ca.root.CaAuthority;
import io.jmesh.ca.root.LocalRoots;
import io.jmesh.ca.root.StateDirectory;
import io.jmesh.testing.kubernetes.KubernetesApiServer;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The root of trust kept in a Kubernetes Secret, written with optimistic concurrency, and its ConfigMap. */
@Timeout(60)
class SecretRootStoreTest {

    static final String NS = "istio-system";
    static final String SECRET = "istio-ca-secret";

    KubernetesApiServer k8s;
    KubernetesApi api;

    @BeforeEach
    void start() {
        k8s = new KubernetesApiServer();
        KubernetesSettings s = KubernetesTokenReviewerTest.settings(k8s.url(), Duration.ZERO);
        api = KubernetesApi.create(s.connection());
    }

    @AfterEach
    void stop() {
        k8s.close();
    }

    LocalRoots roots() {
        return new LocalRoots(new SecretRootStore(api, NS, SECRET), "cluster.local", Duration.ofDays(3650),
                Clock.systemUTC());
    }

    String key(Secret s, String name) {
        String b64 = s.getData().get(name);
        return b64 == null ? null : new String(Base64.getDecoder().decode(b64), StandardCharsets.UTF_8);
    }

    @Test
    void firstStartGeneratesTheRootIntoTheSecretAndEveryReplicaLoadsThatOne() {
        CaAuthority first = roots().load();
        Secret secret = k8s.client().secrets().inNamespace(NS).withName(SECRET).get();
        assertNotNull(secret, "the Secret was created");
        assertEquals(SecretRootStore.SECRET_TYPE, secret.getType());
        assertEquals(CaAuthority.pem(first.signingCert()), key(secret, StateDirectory.CA_CERT));
        assertTrue(key(secret, StateDirectory.CA_KEY).contains("PRIVATE KEY"));
        assertEquals(first.rootsPem(), key(secret, StateDirectory.ROOT_CERT));
        assertEquals("secret:istio-system/istio-ca-secret", first.source());

        CaAuthority second = roots().load();
        assertTrue(second.sameMaterial(first), "another replica adopts the stored root");
    }

    @Test
    void replicasStartingTogetherAgreeOnOneRoot() throws Exception {
        // replica A reads "no Secret", generates a root, and before it writes replica B creates the Secret: A's
        // create must fail with a conflict and A must adopt B's root instead of overwriting it
        SecretRootStore a = new SecretRootStore(api, NS, SECRET);
        AtomicInteger attempts = new AtomicInteger();
        String adopted = a.locked(() -> {
            if (attempts.incrementAndGet() == 1) {
                assertNull(a.readString(StateDirectory.CA_CERT));
                CompletableFuture.runAsync(() -> roots().load()).orTimeout(30, TimeUnit.SECONDS).join();
                a.writeString(StateDirectory.CA_CERT, "replica A's root");
                return "overwrote";
            }
            return a.readString(StateDirectory.CA_CERT);
        });
        assertEquals(2, attempts.get(), "the conflicting write ran again on the current Secret");
        Secret secret = k8s.client().secrets().inNamespace(NS).withName(SECRET).get();
        assertEquals(key(secret, StateDirectory.CA_CERT), adopted);
        assertTrue(adopted.contains("BEGIN CERTIFICATE"), "replica B's root stayed");
    }

    @Test
    void aConcurrentUpdateMakesTheLaterWriterRetryOnTheNewContents() throws Exception {
        roots().load();
        SecretRootStore a = new SecretRootStore(api, NS, SECRET);
        SecretRootStore b = new SecretRootStore(api, NS, SECRET);
        AtomicInteger attempts = new AtomicInteger();
        a.locked(() -> {
            if (attempts.incrementAndGet() == 1) {
                CompletableFuture.runAsync(() -> b.locked(() -> {
                    b.writeString("note", "from b");
                    return null;
                })).orTimeout(30, TimeUnit.SECONDS).join();
            }
            a.writeString("other", "from a");
            return null;
        });
        assertEquals(2, attempts.get());
        Secret secret = k8s.client().secrets().inNamespace(NS).withName(SECRET).get();
        assertEquals("from b", key(secret, "note"), "b's update was not lost");
        assertEquals("from a", key(secret, "other"));
    }

    @Test
    void rotationStepsChangeTheSecretAndItsStamp() {
        LocalRoots roots = roots();
        CaAuthority before = roots.load();
        SecretRootStore store = new SecretRootStore(api, NS, SECRET);
        String stamp = store.stamp();
        X509Certificate next = roots.prepare();
        assertNotEquals(stamp, store.stamp(), "a prepared root changes the stamp the CA polls");
        CaAuthority overlap = roots.load();
        assertEquals(2, overlap.roots().size(), "old and next root both trusted");
        assertEquals(before.signingCert(), overlap.signingCert(), "the old root still signs");

        assertEquals(next, roots.activate());
        CaAuthority activated = roots.load();
        assertEquals(next, activated.signingCert());
        assertTrue(activated.roots().contains(before.signingCert()), "the previous root stays trusted");
        Secret secret = k8s.client().secrets().inNamespace(NS).withName(SECRET).get();
        assertNull(secret.getData().get(StateDirectory.NEXT_CA_CERT));
        assertNotNull(secret.getData().get(StateDirectory.PREVIOUS_ROOTS));

        assertEquals(List.of(before.signingCert()), roots.retire());
        assertEquals(List.of(next), roots.load().roots());
        IllegalStateException none = assertThrows(IllegalStateException.class, roots::activate);
        assertTrue(none.getMessage().contains("no next root prepared in secret:istio-system/istio-ca-secret"),
                none.getMessage());
    }

    @Test
    void writesOutsideLockedAreAProgrammingError() {
        SecretRootStore store = new SecretRootStore(api, NS, SECRET);
        assertThrows(IllegalStateException.class, () -> store.writeString("x", "y"));
    }

    @Test
    void theRootConfigMapIsWrittenOnlyWhenItsContentsChange() {
        RootCertConfigMap map = new RootCertConfigMap(api, NS, "istio-ca-root-cert");
        assertTrue(map.sync("root one\n"));
        assertFalse(map.sync("root one\n"), "unchanged: no write");
        assertTrue(map.sync("root one\nroot two\n"));
        ConfigMap cm = k8s.client().configMaps().inNamespace(NS).withName("istio-ca-root-cert").get();
        assertEquals("root one\nroot two\n", cm.getData().get(RootCertConfigMap.KEY));
    }
}
