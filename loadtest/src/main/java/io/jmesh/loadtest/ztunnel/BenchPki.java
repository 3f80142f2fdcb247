package io.jmesh.loadtest.ztunnel;

import io.jmesh.core.tls.Pem;
import io.jmesh.proto.istio.v1.auth.IstioCertificateResponse;
import io.jmesh.proto.istio.v1.auth.IstioCertificateServiceGrpcService;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.GrpcServer;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PublicKey;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.concurrent.TimeUnit;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequest;

/**
 * The benchmark's certificate authority: one P-256 root, leaves for the HAProxy pair and the east-west gateway, and
 * Istio's {@code CreateCertificate} over gRPC for the ztunnels (the identity in {@code ImpersonatedIdentity} is
 * signed as asked: benchmarks measure the data path, not the CA's authorization).
 */
final class BenchPki implements AutoCloseable {

    private final KeyPair rootKeys;
    private final X509Certificate root;
    private final Vertx vertx = Vertx.vertx();
    private HttpServer server;
    /** How long the certificates {@link #startCa} issues to ztunnels are valid (its own leaves: 24 h). */
    volatile Duration caLeafValidity = LEAF_VALIDITY;
    private static final Duration LEAF_VALIDITY = Duration.ofHours(24);

    BenchPki() throws Exception {
        rootKeys = ecKey();
        X500Name name = new X500Name("CN=jmesh bench root");
        var b = new JcaX509v3CertificateBuilder(name, BigInteger.ONE, Date.from(Instant.now().minusSeconds(3600)),
                Date.from(Instant.now().plus(Duration.ofDays(2))), name, rootKeys.getPublic());
        b.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
        b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
        root = new JcaX509CertificateConverter().getCertificate(
                b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(rootKeys.getPrivate())));
    }

    String rootPem() {
        return Pem.encode(root);
    }

    /**
     * Starts CreateCertificate on 127.0.0.1 over TLS, as ca serves it (a certificate for 127.0.0.1 under the bench
     * root, TLS 1.3, AES-GCM, ALPN h2): a ztunnel's RSS then includes the TLS client of its connection to ca, as a
     * deployed one does. Returns its port; {@link #writeRoot} gives the file ztunnel's {@code rootCertFile} names.
     * {@code more} adds other services to the same server (the discovery stand-in).
     */
    int startCa(java.util.function.Consumer<GrpcServer> more) throws Exception {
        GrpcServer grpc = GrpcServer.server(vertx);
        more.accept(grpc);
        grpc.callHandler(IstioCertificateServiceGrpcService.CreateCertificate, call -> call.handler(req -> {
            try {
                String id = req.getMetadata().getFieldsOrThrow("ImpersonatedIdentity").getStringValue();
                PublicKey key = new JcaPKCS10CertificationRequest(io.jmesh.ca.signing.CsrPem.parse(req.getCsr())).getPublicKey();
                X509Certificate leaf = issue(key, id, caLeafValidity);
                call.response().end(IstioCertificateResponse.newBuilder().addCertChain(Pem.encode(leaf))
                        .addCertChain(rootPem()).build());
            } catch (Exception e) {
                call.response().status(GrpcStatus.INVALID_ARGUMENT).statusMessage(e.getMessage()).end();
            }
        }));
        KeyPair serving = ecKey();
        X509Certificate servingCert = issue(serving.getPublic(), new GeneralNames(new GeneralName[] {
            new GeneralName(GeneralName.iPAddress, "127.0.0.1"),
            new GeneralName(GeneralName.uniformResourceIdentifier, "spiffe://cluster.local/ns/istio-system/sa/ca")}),
                LEAF_VALIDITY);
        HttpServerOptions options = io.jmesh.core.tls.TlsPolicy.apply(new HttpServerOptions().setHost("127.0.0.1")
                .setPort(0).setSsl(true).setUseAlpn(true).setKeyCertOptions(new io.vertx.core.net.PemKeyCertOptions()
                        .setCertValue(io.vertx.core.buffer.Buffer.buffer(Pem.encode(servingCert)))
                        .setKeyValue(io.vertx.core.buffer.Buffer.buffer(Pem.encodePrivateKey(serving.getPrivate())))));
        server = vertx.createHttpServer(options).requestHandler(grpc)
                .listen().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        return server.actualPort();
    }

    /** Writes {@code <name>.pem} (certificate then key, HAProxy's format) signed by the root. */
    Path writeLeafPem(Path dir, String name, String uri) throws Exception {
        KeyPair kp = ecKey();
        X509Certificate leaf = issue(kp.getPublic(), uri, LEAF_VALIDITY);
        Path p = dir.resolve(name + ".pem");
        Files.writeString(p, Pem.encode(leaf) + Pem.encodePrivateKey(kp.getPrivate()));
        return p;
    }

    /** A leaf's certificate and private key in PEM files of their own (Node.js's format). */
    record LeafFiles(Path cert, Path key) {}

    /** Writes {@code <name>.crt} and {@code <name>.key}: a leaf for {@code uri} signed by the root. */
    LeafFiles writeLeafFiles(Path dir, String name, String uri) throws Exception {
        KeyPair kp = ecKey();
        LeafFiles files = new LeafFiles(dir.resolve(name + ".crt"), dir.resolve(name + ".key"));
        Files.writeString(files.cert(), Pem.encode(issue(kp.getPublic(), uri, LEAF_VALIDITY)));
        Files.writeString(files.key(), Pem.encodePrivateKey(kp.getPrivate()));
        return files;
    }

    /** Writes the bench root to {@code file} (ztunnel's {@code identity.rootCertFile}); returns it. */
    Path writeRoot(Path file) throws java.io.IOException {
        Files.writeString(file, rootPem());
        return file;
    }

    private X509Certificate issue(PublicKey key, String uri, Duration validity) throws Exception {
        return issue(key, new GeneralNames(new GeneralName(GeneralName.uniformResourceIdentifier, uri)), validity);
    }

    private X509Certificate issue(PublicKey key, GeneralNames names, Duration validity) throws Exception {
        var b = new JcaX509v3CertificateBuilder(new X500Name(root.getSubjectX500Principal().getName()),
                BigInteger.valueOf(System.nanoTime()), Date.from(Instant.now().minusSeconds(60)),
                Date.from(Instant.now().plus(validity)), new X500Name(""), key);
        b.addExtension(Extension.subjectAlternativeName, true, names);
        b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
        return new JcaX509CertificateConverter().getCertificate(
                b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(rootKeys.getPrivate())));
    }

    private static KeyPair ecKey() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        return g.generateKeyPair();
    }

    @Override
    public void close() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
}
