package io.jmesh.ztunnel.identity;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.tls.Certificates;
import io.netty.handler.ssl.SslContext;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.List;

/**
 * One local workload identity's key and certificate, with the HBONE TLS contexts built from them once (so no
 * handshake pays for building a context).
 *
 * @param chain leaf first, then intermediates (roots are not sent)
 */
public record WorkloadCertificate(SpiffeId identity, List<X509Certificate> chain, SslContext serverContext,
        SslContext clientContext) {

    public X509Certificate leaf() {
        return chain.get(0);
    }

    public Instant notBefore() {
        return leaf().getNotBefore().toInstant();
    }

    public Instant notAfter() {
        return leaf().getNotAfter().toInstant();
    }

    public String serial() {
        return Certificates.serialHex(leaf());
    }

    /** Istio's refresh point: half of the lifetime. */
    public Instant halfLife() {
        long life = notAfter().toEpochMilli() - notBefore().toEpochMilli();
        return notBefore().plusMillis(life / 2);
    }

    public boolean validAt(Instant t) {
        return !t.isBefore(notBefore()) && t.isBefore(notAfter());
    }
}
