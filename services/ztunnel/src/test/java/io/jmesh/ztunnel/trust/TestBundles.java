package io.jmesh.ztunnel.trust;

import com.google.protobuf.ByteString;
import io.jmesh.core.tls.Pem;
import io.jmesh.proto.ca.v1.TrustBundle;
import io.jmesh.ztunnel.testing.TestCa;
import java.math.BigInteger;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.cert.X509v2CRLBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/** Hand-made trust bundles and CRLs (Bouncy Castle) for the bundle validation tests. */
final class TestBundles {

    private TestBundles() {}

    /** A DER CRL issued in {@code issuer}'s name, signed by {@code signer}, listing {@code serials}. */
    static byte[] crl(TestCa.Issued issuer, TestCa.Issued signer, Instant thisUpdate, Duration validity,
            BigInteger... serials) throws Exception {
        X509v2CRLBuilder b = new X509v2CRLBuilder(
                new X500Name(issuer.cert().getSubjectX500Principal().getName()), Date.from(thisUpdate));
        b.setNextUpdate(Date.from(thisUpdate.plus(validity)));
        for (BigInteger s : serials) {
            b.addCRLEntry(s, Date.from(thisUpdate), 1);
        }
        return b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(signer.keys().getPrivate())).getEncoded();
    }

    static TrustBundle bundle(long version, String trustDomain, byte[] crl, TestCa.Issued... roots) {
        TrustBundle.Builder b = TrustBundle.newBuilder().setVersion(version).setTrustDomain(trustDomain);
        for (TestCa.Issued r : roots) {
            b.addRootsPem(Pem.encode(r.cert()));
        }
        if (crl != null) {
            b.setCrlDer(ByteString.copyFrom(crl));
        }
        return b.build();
    }
}
