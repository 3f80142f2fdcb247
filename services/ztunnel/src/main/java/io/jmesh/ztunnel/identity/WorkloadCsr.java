package io.jmesh.ztunnel.identity;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.tls.Der;
import io.jmesh.core.tls.Pem;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.Signature;

/**
 * The PKCS#10 request (RFC 2986) ztunnel sends for a workload: empty subject, the SPIFFE id as the one URI SAN of a
 * critical subjectAltName extension, signed with SHA-256 and ECDSA (Istio's shape). Written out in DER here rather
 * than with Bouncy Castle, which ztunnel needed for nothing else: its classes and its jar's entries were over a
 * megabyte of every ztunnel's memory.
 */
final class WorkloadCsr {

    private static final byte[] EXTENSION_REQUEST = Der.oid("1.2.840.113549.1.9.14");
    private static final byte[] SUBJECT_ALT_NAME = Der.oid("2.5.29.17");
    private static final byte[] ECDSA_WITH_SHA256 = Der.oid("1.2.840.10045.4.3.2");
    /** GeneralName's uniformResourceIdentifier: [6] IMPLICIT IA5String. */
    private static final int URI_NAME = 6;

    private WorkloadCsr() {}

    /** The request for {@code id} with {@code keys} (an EC key pair), as PEM. */
    static String pem(SpiffeId id, KeyPair keys) throws GeneralSecurityException {
        return Pem.encode(new Pem.Block("CERTIFICATE REQUEST", der(id, keys)));
    }

    static byte[] der(SpiffeId id, KeyPair keys) throws GeneralSecurityException {
        byte[] subjectAltName = Der.sequence(Der.implicitPrimitive(URI_NAME, id.uri()));
        byte[] extensions = Der.sequence(Der.sequence(SUBJECT_ALT_NAME, Der.bool(true),
                Der.octetString(subjectAltName)));
        byte[] info = Der.sequence(
                Der.integer(0),
                Der.sequence(), // the empty subject: the identity is the SAN alone
                keys.getPublic().getEncoded(), // SubjectPublicKeyInfo, as the JDK encodes it
                // attributes [0] IMPLICIT SET OF Attribute, with one attribute: the same bytes as an explicit [0]
                Der.explicit(0, Der.sequence(EXTENSION_REQUEST, Der.set(extensions))));
        Signature signer = Signature.getInstance("SHA256withECDSA");
        signer.initSign(keys.getPrivate());
        signer.update(info);
        return Der.sequence(info, Der.sequence(ECDSA_WITH_SHA256), Der.bitString(signer.sign()));
    }
}
