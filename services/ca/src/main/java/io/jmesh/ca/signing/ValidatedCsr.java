package io.jmesh.ca.signing;

import io.jmesh.core.identity.SpiffeId;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;

/**
 * A certificate signing request that passed every check of {@link CsrValidator}: its signature verifies, its key is
 * acceptable and it asks for exactly one SPIFFE identity. Immutable.
 *
 * @param publicKey the key to certify, as it appeared in the request
 * @param keyType what kind of key it is (decides the leaf's key usage)
 * @param identity the one URI SAN of the request
 */
public record ValidatedCsr(SubjectPublicKeyInfo publicKey, KeyType keyType, SpiffeId identity) {

    /** Accepted key types. */
    public enum KeyType {
        EC_P256, EC_P384, RSA;

        /** RSA keys may encrypt session keys (TLS 1.2 RSA key exchange); EC keys only sign. */
        public boolean rsa() {
            return this == RSA;
        }
    }
}
