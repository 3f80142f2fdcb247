package io.jmesh.policy.tls;

import io.jmesh.core.tls.Pem;
import java.nio.charset.StandardCharsets;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
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
        if (!belongsTo(key, leaf)) {
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

    /** Signs a random challenge with {@code key} and verifies it with the certificate's public key. */
    private static boolean belongsTo(PrivateKey key, X509Certificate cert) {
        String algorithm = signatureAlgorithm(key.getAlgorithm());
        if (algorithm == null || !algorithm.equals(signatureAlgorithm(cert.getPublicKey().getAlgorithm()))) {
            return false;
        }
        try {
            byte[] challenge = new byte[32];
            new SecureRandom().nextBytes(challenge);
            Signature s = Signature.getInstance(algorithm);
            s.initSign(key);
            s.update(challenge);
            byte[] signature = s.sign();
            Signature v = Signature.getInstance(algorithm);
            v.initVerify(cert.getPublicKey());
            v.update(challenge);
            return v.verify(signature);
        } catch (java.security.GeneralSecurityException e) {
            return false;
        }
    }

    private static String signatureAlgorithm(String keyAlgorithm) {
        return switch (keyAlgorithm) {
            case "EC", "ECDSA" -> "SHA256withECDSA";
            case "RSA" -> "SHA256withRSA";
            case "Ed25519", "EdDSA" -> "Ed25519";
            default -> null;
        };
    }

    @Override
    public String toString() {
        // never the key
        return "ServingPair[notAfter=" + notAfter + ", chain=" + chainPem.getBytes(StandardCharsets.UTF_8).length
                + " bytes]";
    }
}
