package io.jmesh.ca.trust;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.jmesh.ca.cli.CaCli;
import io.jmesh.ca.testing.CaClient;
import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.ca.testing.TestCsrs;
import io.jmesh.core.tls.Certificates;
import io.jmesh.core.tls.Pem;
import io.jmesh.proto.ca.v1.TrustBundle;
import io.jmesh.proto.istio.v1.auth.IstioCertificateResponse;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The documented root rotation (docs/ca.md), end to end against a running CA: prepare (new root trusted, streamed
 * to watchers), activate (new certificates chain to it; certificates under the old root still verify during the
 * overlap), retire (old root leaves the bundle).
 */
@Timeout(90)
class RootRotationTest {

    static final String ZTUNNEL = "spiffe://cluster.local/ns/istio-system/sa/ztunnel";

    @RegisterExtension
    CaServerExtension ca = CaServerExtension.builder().build();

    Vertx vertx;

    @BeforeEach
    void start() {
        vertx = Vertx.vertx();
    }

    @AfterEach
    void stop() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    static <T> T get(Future<T> f) throws Exception {
        return f.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    private void cli(String... args) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(List.of("--state-dir", ca.stateDir().toString()));
        int code = new CaCli(new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true,
                StandardCharsets.UTF_8), Clock.systemUTC()).run(all.toArray(new String[0]));
        assertThat(code).as(err.toString(StandardCharsets.UTF_8)).isZero();
    }

    private X509Certificate issue(CaClient client) throws Exception {
        IstioCertificateResponse r = get(client.createCertificate(ca.nodeToken("node-a"),
                TestCsrs.forIdentity(ZTUNNEL).pem(), 3600, null));
        return Pem.certificate(r.getCertChain(0));
    }

    private static List<X509Certificate> roots(TrustBundle b) {
        List<X509Certificate> out = new ArrayList<>();
        b.getRootsPemList().forEach(p -> out.add(Pem.certificate(p)));
        return out;
    }

    private static void verify(X509Certificate leaf, List<X509Certificate> roots) throws GeneralSecurityException {
        Certificates.verifyChain(List.of(leaf), roots, new Date());
    }

    @Test
    void certificatesUnderTheOldAndTheNewRootBothVerifyDuringTheOverlap() throws Exception {
        List<TrustBundle> bundles = new CopyOnWriteArrayList<>();
        CaClient oldClient = ca.client(vertx);
        get(oldClient.watchTrustBundle(0, bundles::add));
        await().atMost(Duration.ofSeconds(10)).until(() -> !bundles.isEmpty());
        TrustBundle initial = bundles.get(0);
        assertThat(initial.getRootsPemCount()).isEqualTo(1);
        X509Certificate oldRoot = roots(initial).get(0);
        X509Certificate underOld = issue(oldClient);
        verify(underOld, List.of(oldRoot));

        // 1. prepare: the next root is trusted (streamed to every watcher) but signs nothing yet
        cli("root", "prepare");
        await().atMost(Duration.ofSeconds(10)).until(() -> last(bundles).getRootsPemCount() == 2);
        TrustBundle overlap = last(bundles);
        assertThat(overlap.getVersion()).isGreaterThan(initial.getVersion());
        List<X509Certificate> both = roots(overlap);
        X509Certificate newRoot = both.stream().filter(r -> !r.equals(oldRoot)).findFirst().orElseThrow();
        verify(issue(oldClient), List.of(oldRoot));

        // 2. activate: new certificates chain to the new root; the chain's last element carries both roots
        cli("root", "activate");
        await().atMost(Duration.ofSeconds(10)).until(() -> ca.bootstrap().authority().signingCert().equals(newRoot));
        CaClient overlapClient = new CaClient(vertx, ca.address(), String.join("", overlap.getRootsPemList()));
        IstioCertificateResponse underNewResp = get(overlapClient.createCertificate(ca.nodeToken("node-a"),
                TestCsrs.forIdentity(ZTUNNEL).pem(), 3600, null));
        X509Certificate underNew = Pem.certificate(underNewResp.getCertChain(0));
        assertThat(Pem.certificates(underNewResp.getCertChain(underNewResp.getCertChainCount() - 1)))
                .containsExactlyInAnyOrder(oldRoot, newRoot);
        verify(underNew, List.of(newRoot));
        assertThatThrownBy(() -> verify(underNew, List.of(oldRoot))).isInstanceOf(GeneralSecurityException.class);
        // the overlap: both generations verify against the streamed bundle
        TrustBundle afterActivate = last(bundles);
        assertThat(roots(afterActivate)).containsExactlyInAnyOrder(oldRoot, newRoot);
        verify(underOld, roots(afterActivate));
        verify(underNew, roots(afterActivate));

        // 3. retire: the old root leaves the bundle; only the new generation verifies
        cli("root", "retire");
        await().atMost(Duration.ofSeconds(10)).until(() -> last(bundles).getRootsPemCount() == 1);
        List<X509Certificate> finalRoots = roots(last(bundles));
        assertThat(finalRoots).containsExactly(newRoot);
        verify(underNew, finalRoots);
        assertThatThrownBy(() -> verify(underOld, finalRoots)).isInstanceOf(GeneralSecurityException.class);

        // versions only ever increase
        for (int i = 1; i < bundles.size(); i++) {
            assertThat(bundles.get(i).getVersion()).isGreaterThan(bundles.get(i - 1).getVersion());
        }
        oldClient.close();
        overlapClient.close();
    }

    @Test
    void aWatcherThatHoldsTheCurrentVersionGetsOnlyChanges() throws Exception {
        CaClient client = ca.client(vertx);
        long current = ca.bootstrap().trustBundle().current().getVersion();
        List<TrustBundle> bundles = new CopyOnWriteArrayList<>();
        get(client.watchTrustBundle(current, bundles::add));
        cli("root", "prepare");
        await().atMost(Duration.ofSeconds(10)).until(() -> !bundles.isEmpty());
        assertThat(bundles.get(0).getVersion()).isGreaterThan(current);
        assertThat(bundles.get(0).getRootsPemCount()).isEqualTo(2);
        client.close();
    }

    private static TrustBundle last(List<TrustBundle> l) {
        return l.get(l.size() - 1);
    }
}
