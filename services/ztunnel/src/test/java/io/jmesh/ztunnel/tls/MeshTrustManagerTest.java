package io.jmesh.ztunnel.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.ztunnel.testing.TestCa;
import java.math.BigInteger;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.Test;

/** Revocation at the handshake, both directions, leaf and intermediate, read from the snapshot in force. */
class MeshTrustManagerTest {

    final Map<String, Integer> rejected = new ConcurrentHashMap<>();

    TrustBundle bundle(X509Certificate root, BigInteger... revoked) {
        TrustBundle b = new TrustBundle();
        b.rejections((direction, reason) -> rejected.merge(direction + "/" + reason, 1, Integer::sum));
        b.install(new TrustSnapshot(5, List.of(root), Set.of(revoked), null, "test"));
        return b;
    }

    @Test
    void aRevokedLeafIsRefusedInBothDirectionsAndCounted() throws Exception {
        TestCa ca = new TestCa(null, "t");
        TestCa.Issued leaf = ca.leaf(Duration.ofHours(1), "spiffe://cluster.local/ns/default/sa/sleep");
        X509Certificate[] chain = {leaf.cert()};
        TrustBundle trust = bundle(ca.rootCert());
        MeshTrustManager server = new MeshTrustManager(trust, "cluster.local");
        MeshTrustManager client = new MeshTrustManager(trust, null);
        assertThatCode(() -> server.checkClientTrusted(chain, "EC")).doesNotThrowAnyException();
        assertThatCode(() -> client.checkServerTrusted(chain, "EC")).doesNotThrowAnyException();

        // a new snapshot applies to the next check, no new context needed
        trust.install(new TrustSnapshot(6, List.of(ca.rootCert()), Set.of(leaf.cert().getSerialNumber()), null, "t"));
        assertThatThrownBy(() -> server.checkClientTrusted(chain, "EC"))
                .isInstanceOf(RevokedCertificateException.class)
                .hasMessageContaining(leaf.cert().getSerialNumber().toString(16))
                .hasMessageContaining("spiffe://cluster.local/ns/default/sa/sleep")
                .hasMessageContaining("version 6");
        assertThatThrownBy(() -> client.checkServerTrusted(chain, "EC")).isInstanceOf(RevokedCertificateException.class);
        assertThat(rejected).containsEntry("inbound/revoked", 1).containsEntry("outbound/revoked", 1);

        // the handshake failure carries the cause, so listeners can name the reason
        SSLHandshakeException failure = new SSLHandshakeException("handshake failed");
        failure.initCause(new CertificateException("wrapped", new RevokedCertificateException("revoked")));
        assertThat(PeerIdentity.revoked(failure)).isTrue();
        assertThat(PeerIdentity.revoked(new SSLHandshakeException("other"))).isFalse();
        // no CA names in the CertificateRequest (see getAcceptedIssuers)
        assertThat(server.getAcceptedIssuers()).isEmpty();
    }

    @Test
    void aRevokedIntermediateRefusesEveryChainThroughIt() throws Exception {
        TestCa.Issued root = TestCa.root("mesh root");
        TestCa.Issued intermediate = TestCa.intermediate(root, "plug-in intermediate");
        TestCa.Issued leaf = TestCa.leafUnder(intermediate, "spiffe://cluster.local/ns/default/sa/echo");
        X509Certificate[] chain = {leaf.cert(), intermediate.cert()};
        MeshTrustManager server = new MeshTrustManager(bundle(root.cert()), "cluster.local");
        assertThatCode(() -> server.checkClientTrusted(chain, "EC")).doesNotThrowAnyException();
        MeshTrustManager revoking = new MeshTrustManager(bundle(root.cert(), intermediate.cert().getSerialNumber()),
                "cluster.local");
        assertThatThrownBy(() -> revoking.checkClientTrusted(chain, "EC"))
                .isInstanceOf(RevokedCertificateException.class)
                .hasMessageContaining("plug-in intermediate");
    }

    @Test
    void aChainOutsideTheBundleIsCountedAsUntrusted() throws Exception {
        TestCa ca = new TestCa(null, "t");
        TestCa.Issued leaf = ca.leaf(Duration.ofHours(1), "spiffe://cluster.local/ns/default/sa/sleep");
        MeshTrustManager server = new MeshTrustManager(bundle(TestCa.root("another root").cert()), "cluster.local");
        assertThatThrownBy(() -> server.checkClientTrusted(new X509Certificate[] {leaf.cert()}, "EC"))
                .isInstanceOf(CertificateException.class).isNotInstanceOf(RevokedCertificateException.class);
        assertThat(rejected).containsEntry("inbound/untrusted", 1);
    }
}
