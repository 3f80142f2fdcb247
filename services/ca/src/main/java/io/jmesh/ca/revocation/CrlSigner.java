package io.jmesh.ca.revocation;

import io.jmesh.ca.root.CaAuthority;
import io.jmesh.ca.signing.Crypto;
import io.jmesh.proto.ca.v1.Revocation;
import java.io.IOException;
import java.math.BigInteger;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.Date;
import org.bouncycastle.asn1.x509.AuthorityKeyIdentifier;
import org.bouncycastle.asn1.x509.CRLNumber;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.cert.X509CRLHolder;
import org.bouncycastle.cert.X509v2CRLBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * Signs X.509 v2 CRLs with the CA's signing key: every revoked certificate that has not expired yet, with its
 * revocation date and RFC 5280 reason code, a CRL number, the authority key identifier, and a nextUpdate
 * {@code validity} after thisUpdate.
 *
 * <p>Stateless and thread-safe; CPU-bound.
 */
public final class CrlSigner {

    /** A signed CRL. */
    public record SignedCrl(byte[] der, BigInteger number, Instant thisUpdate, Instant nextUpdate) {
        public String pem() {
            return Crypto.pem("X509 CRL", der);
        }
    }

    private CrlSigner() {}

    /**
     * Whether the revoked certificate has expired, so its revocation no longer matters (a serial revoked without a
     * known expiry never does).
     */
    public static boolean expired(Revocation r, Instant now) {
        return r.hasNotAfter() && r.getNotAfter().getSeconds() < now.getEpochSecond();
    }

    public static SignedCrl sign(CaAuthority ca, Collection<Revocation> revocations, BigInteger number,
            Duration validity, Instant now) {
        Instant next = now.plus(validity);
        X509v2CRLBuilder b = new X509v2CRLBuilder(ca.issuerName(), Date.from(now));
        b.setNextUpdate(Date.from(next));
        for (Revocation r : revocations) {
            if (expired(r, now)) {
                continue; // no longer needs a CRL entry
            }
            b.addCRLEntry(new BigInteger(r.getSerialHex(), 16),
                    Date.from(Instant.ofEpochSecond(r.getRevokedAt().getSeconds(), r.getRevokedAt().getNanos())),
                    r.getReasonValue());
        }
        try {
            b.addExtension(Extension.cRLNumber, false, new CRLNumber(number));
            b.addExtension(Extension.authorityKeyIdentifier, false, new AuthorityKeyIdentifier(ca.authorityKeyId()));
            X509CRLHolder crl = b.build(new JcaContentSignerBuilder(ca.signatureAlgorithm())
                    .setProvider(Crypto.PROVIDER).build(ca.signingKey()));
            return new SignedCrl(crl.getEncoded(), number, now, next);
        } catch (IOException | OperatorCreationException e) {
            throw new IllegalStateException("cannot sign the CRL: " + e.getMessage(), e);
        }
    }
}
