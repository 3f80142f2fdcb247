package io.jmesh.ztunnel.identity;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.ca.signing.CsrPem;
import io.jmesh.ca.signing.CsrValidator;
import io.jmesh.ca.signing.ValidatedCsr;
import io.jmesh.core.identity.SpiffeId;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.ExtensionsGenerator;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;
import org.junit.jupiter.api.Test;

/** ztunnel's hand-written PKCS#10 requests, read back by Bouncy Castle and by the CA's own validation. */
class WorkloadCsrTest {

    private static final SpiffeId ID = SpiffeId.parse("spiffe://cluster.local/ns/default/sa/reviews");

    @Test
    void theRequestIsTheOneBouncyCastleBuiltByteForByteUpToTheSignature() throws Exception {
        KeyPair keys = ecKeys();
        PKCS10CertificationRequest ours = CsrPem.parse(WorkloadCsr.pem(ID, keys));
        // the former builder, with the same key: everything the signature covers must be the same bytes
        ExtensionsGenerator ext = new ExtensionsGenerator();
        ext.addExtension(Extension.subjectAlternativeName, true,
                new GeneralNames(new GeneralName(GeneralName.uniformResourceIdentifier, ID.uri())));
        PKCS10CertificationRequest former = new JcaPKCS10CertificationRequestBuilder(new X500Name(""), keys.getPublic())
                .addAttribute(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest, ext.generate())
                .build(new JcaContentSignerBuilder("SHA256withECDSA").build(keys.getPrivate()));
        assertThat(ours.toASN1Structure().getCertificationRequestInfo().getEncoded())
                .isEqualTo(former.toASN1Structure().getCertificationRequestInfo().getEncoded());
        assertThat(ours.getSignatureAlgorithm().getEncoded()).isEqualTo(former.getSignatureAlgorithm().getEncoded());
        assertThat(ours.isSignatureValid(new JcaContentVerifierProviderBuilder().build(keys.getPublic()))).isTrue();
    }

    @Test
    void theCaAcceptsItForTheIdentityItNames() throws Exception {
        KeyPair keys = ecKeys();
        ValidatedCsr valid = new CsrValidator(16 * 1024).validate(WorkloadCsr.pem(ID, keys));
        assertThat(valid.identity()).isEqualTo(ID);
        assertThat(valid.keyType()).isEqualTo(ValidatedCsr.KeyType.EC_P256);
        assertThat(valid.publicKey().getEncoded()).isEqualTo(keys.getPublic().getEncoded());
    }

    @Test
    void aRequestSignedWithAnotherKeyDoesNotVerify() throws Exception {
        KeyPair keys = ecKeys();
        byte[] der = WorkloadCsr.der(ID, new KeyPair(keys.getPublic(), ecKeys().getPrivate()));
        assertThat(new PKCS10CertificationRequest(der)
                .isSignatureValid(new JcaContentVerifierProviderBuilder().build(keys.getPublic()))).isFalse();
    }

    private static KeyPair ecKeys() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        return g.generateKeyPair();
    }
}
