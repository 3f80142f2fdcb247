package io.jmesh.ztunnel.tls;

import java.security.cert.CertificateException;

/** A peer presented a chain with a certificate the current CRL lists. */
public final class RevokedCertificateException extends CertificateException {

    private static final long serialVersionUID = 1L;

    RevokedCertificateException(String message) {
        super(message);
    }
}
