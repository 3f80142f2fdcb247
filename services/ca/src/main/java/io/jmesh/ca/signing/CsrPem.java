package io.jmesh.ca.signing;

import io.jmesh.core.tls.Pem;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;

/** A PEM certificate signing request read into Bouncy Castle's PKCS#10 type (only the CA parses requests). */
public final class CsrPem {

    private CsrPem() {}

    /** Reads one PKCS#10 request; anything else, or more, or a request that does not parse, is refused by name. */
    public static PKCS10CertificationRequest parse(String pem) {
        byte[] der = Pem.single(pem, "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST");
        try {
            return new PKCS10CertificationRequest(der);
        } catch (Exception e) {
            // Bouncy Castle throws assorted runtime exceptions on garbage inside a well-formed PEM block
            throw new IllegalArgumentException("pem: not a valid certificate request: " + e.getMessage(), e);
        }
    }

    /** {@code csr} as PEM. */
    public static String encode(PKCS10CertificationRequest csr) {
        try {
            return Pem.encode(new Pem.Block("CERTIFICATE REQUEST", csr.getEncoded()));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
