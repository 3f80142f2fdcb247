package io.jmesh.policy.tls;

import io.jmesh.core.tls.Certificates;
import io.jmesh.core.tls.Pem;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.List;

/**
 * A serving certificate chain and its private key, checked together: the chain parses (leaf first), the key
 * parses and belongs to the leaf, and the leaf is valid now. A pair that fails any of these is never served.
 *
 * @param chainPem the chain as read (PEM, leaf first)
 * @param keyPem the key as read (PKCS#8 or traditional PEM)
 * @param notAfter the leaf's expiry
 */
public record ServingPair(String chainPem, String keyPem, Instant notAfter) {

    /**
     * Checks {@code chainPem} and {@code keyPem}, named {@code certField}/{@code keyField} in messages.
     *
     * @throws IllegalArgumentException naming the field and what is wrong with it
     */
    public static ServingPair of(String chainPem, String keyPem, String certField, String keyField, Instant now) {
        List<X509Certificate> chain;
        try {
            chain = Pem.certificates(chainPem);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(certField + ": " + e.getMessage(), e);
        }
        PrivateKey key;
        try {
            key = Pem.privateKey(keyPem);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(keyField + ": " + e.getMessage(), e);
        }
        X509Certificate leaf = chain.get(0);
        if (!Certificates.keysMatch(key, leaf.getPublicKey())) {
            throw new IllegalArgumentException(keyField + ": the key does not belong to the first certificate of "
                    + certField + " (" + leaf.getSubjectX500Principal() + ")");
        }
        Instant notAfter = leaf.getNotAfter().toInstant();
        if (!now.isBefore(notAfter)) {
            throw new IllegalArgumentException(certField + ": the certificate expired at " + notAfter);
        }
        if (now.isBefore(leaf.getNotBefore().toInstant())) {
            throw new IllegalArgumentException(certField + ": the certificate is not valid before "
                    + leaf.getNotBefore().toInstant());
        }
        return new ServingPair(chainPem, keyPem, notAfter);
    }

    @Override
    public String toString() {
        // never the key
        return "ServingPair[notAfter=" + notAfter + ", chain=" + chainPem.length() + " chars]";
    }
}
