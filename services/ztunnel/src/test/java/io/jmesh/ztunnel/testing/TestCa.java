package io.jmesh.ztunnel.testing;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.tls.Certificates;
import io.jmesh.core.tls.Pem;
import io.jmesh.proto.istio.v1.auth.IstioCertificateResponse;
import io.jmesh.proto.istio.v1.auth.IstioCertificateServiceGrpcService;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.grpc.common.GrpcError;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.GrpcServer;
import java.math.BigInteger;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequest;

/**
 * A small certificate authority for tests (Bouncy Castle), served over Istio's
 * {@code IstioCertificateService/CreateCertificate} gRPC method. It stands in for the real {@code ca} service
 * (built on another branch) and follows its contract: bearer token required, {@code ImpersonatedIdentity} must
 * equal the CSR's single URI SAN, chain answered leaf first, root last.
 */
public final class TestCa {

    public record Issued(KeyPair keys, X509Certificate cert) {}

    private final Issued root;
    private final String token;
    private final Vertx vertx;
    private HttpServer server;
    public final AtomicInteger requests = new AtomicInteger();
    public final AtomicInteger inFlight = new AtomicInteger();
    public final AtomicInteger maxInFlight = new AtomicInteger();
    /** Fails requests while set (CA outage). */
    public final AtomicReference<String> failWith = new AtomicReference<>();
    /** Lifetime of issued certificates. */
    public volatile Duration lifetime = Duration.ofHours(24);
    /** Clock used for notBefore. */
    public volatile Supplier<Instant> now = Instant::now;
    /** Delay before answering, to observe concurrency. */
    public volatile long delayMillis;
    /** While set, answers wait in {@link #held} until the test runs them (each on its call's context). */
    public volatile boolean hold;
    public final ConcurrentLinkedQueue<Runnable> held = new ConcurrentLinkedQueue<>();
    /** Calls the client cancelled (gRPC CANCELLED, an HTTP/2 reset) before they ended. */
    public final AtomicInteger cancelled = new AtomicInteger();
    public final ConcurrentLinkedQueue<String> impersonated = new ConcurrentLinkedQueue<>();

    public TestCa(Vertx vertx, String token) throws Exception {
        this.vertx = vertx;
        this.token = token;
        this.root = root("jmesh test root");
    }

    public X509Certificate rootCert() {
        return root.cert();
    }

    public String rootPem() {
        return Pem.encode(root.cert());
    }

    public Future<Integer> start() {
        GrpcServer grpc = GrpcServer.server(vertx);
        grpc.callHandler(IstioCertificateServiceGrpcService.CreateCertificate, call -> {
            String auth = call.headers().get("authorization");
            call.errorHandler(error -> {
                if (error == GrpcError.CANCELLED) {
                    cancelled.incrementAndGet();
                }
            });
            call.handler(req -> {
                requests.incrementAndGet();
                if (!("Bearer " + token).equals(auth)) {
                    call.response().status(GrpcStatus.UNAUTHENTICATED).statusMessage("bad token").end();
                    return;
                }
                String fail = failWith.get();
                if (fail != null) {
                    call.response().status(GrpcStatus.UNAVAILABLE).statusMessage(fail).end();
                    return;
                }
                int n = inFlight.incrementAndGet();
                maxInFlight.accumulateAndGet(n, Math::max);
                Runnable answer = () -> {
                    inFlight.decrementAndGet();
                    try {
                        String identity = req.getMetadata().getFieldsOrThrow("ImpersonatedIdentity").getStringValue();
                        impersonated.add(identity);
                        X509Certificate leaf = sign(io.jmesh.ca.signing.CsrPem.parse(req.getCsr()), SpiffeId.parse(identity));
                        call.response().end(IstioCertificateResponse.newBuilder()
                                .addCertChain(Pem.encode(leaf)).addCertChain(rootPem()).build());
                    } catch (Exception e) {
                        call.response().status(GrpcStatus.INVALID_ARGUMENT).statusMessage(e.getMessage()).end();
                    }
                };
                if (hold) {
                    Context context = Vertx.currentContext();
                    held.add(() -> context.runOnContext(v -> {
                        try {
                            answer.run();
                        } catch (IllegalStateException cancelled) {
                            // the client reset the stream meanwhile: there is no one to answer
                        }
                    }));
                } else if (delayMillis > 0) {
                    vertx.setTimer(delayMillis, id -> answer.run());
                } else {
                    answer.run();
                }
            });
        });
        return vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(0))
                .requestHandler(grpc).listen().map(s -> {
                    server = s;
                    return s.actualPort();
                });
    }

    public Future<Void> close() {
        return server == null ? Future.succeededFuture() : server.close();
    }

    /** Signs a CSR whose single URI SAN must be {@code expected}. */
    public X509Certificate sign(PKCS10CertificationRequest csr, SpiffeId expected) throws Exception {
        var jca = new JcaPKCS10CertificationRequest(csr);
        var attrs = csr.getAttributes(org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers.pkcs_9_at_extensionRequest);
        var ext = org.bouncycastle.asn1.x509.Extensions.getInstance(attrs[0].getAttrValues().getObjectAt(0));
        GeneralNames sans = GeneralNames.fromExtensions(ext, Extension.subjectAlternativeName);
        if (sans.getNames().length != 1 || !expected.uri().equals(sans.getNames()[0].getName().toString())) {
            throw new IllegalArgumentException("csr SAN does not match impersonated identity " + expected);
        }
        return issue(jca.getPublicKey(), List.of(expected.uri()), now.get(), lifetime);
    }

    /** A leaf for {@code uris} signed by this CA (tests that need a ready certificate). */
    public Issued leaf(Duration life, String... uris) throws Exception {
        KeyPair kp = ecKey();
        return new Issued(kp, issue(kp.getPublic(), List.of(uris), Instant.now(), life));
    }

    private X509Certificate issue(java.security.PublicKey key, List<String> uris, Instant from, Duration life)
            throws Exception {
        var b = new JcaX509v3CertificateBuilder(new X500Name(root.cert().getSubjectX500Principal().getName()),
                BigInteger.valueOf(System.nanoTime()), Date.from(from.minusSeconds(1)), Date.from(from.plus(life)),
                new X500Name(""), key);
        GeneralName[] names = uris.stream().map(u -> new GeneralName(GeneralName.uniformResourceIdentifier, u))
                .toArray(GeneralName[]::new);
        b.addExtension(Extension.subjectAlternativeName, true, new GeneralNames(names));
        b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
        var signer = new JcaContentSignerBuilder("SHA256withECDSA").build(root.keys().getPrivate());
        X509Certificate c = new JcaX509CertificateConverter().getCertificate(b.build(signer));
        if (Certificates.uriSans(c).isEmpty()) {
            throw new IllegalStateException("no SAN");
        }
        return c;
    }

    public static Issued root(String cn) throws Exception {
        KeyPair kp = ecKey();
        X500Name name = new X500Name("CN=" + cn);
        var b = new JcaX509v3CertificateBuilder(name, BigInteger.ONE, Date.from(Instant.now().minusSeconds(3600)),
                Date.from(Instant.now().plus(Duration.ofDays(3650))), name, kp.getPublic());
        b.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
        b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
        var signer = new JcaContentSignerBuilder("SHA256withECDSA").build(kp.getPrivate());
        return new Issued(kp, new JcaX509CertificateConverter().getCertificate(b.build(signer)));
    }

    /** A CA certificate named {@code cn}, signed by {@code parent} (a plug-in CA's intermediate). */
    public static Issued intermediate(Issued parent, String cn) throws Exception {
        KeyPair kp = ecKey();
        var b = new JcaX509v3CertificateBuilder(new X500Name(parent.cert().getSubjectX500Principal().getName()),
                BigInteger.valueOf(System.nanoTime()), Date.from(Instant.now().minusSeconds(3600)),
                Date.from(Instant.now().plus(Duration.ofDays(365))), new X500Name("CN=" + cn), kp.getPublic());
        b.addExtension(Extension.basicConstraints, true, new BasicConstraints(0));
        b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
        var signer = new JcaContentSignerBuilder("SHA256withECDSA").build(parent.keys().getPrivate());
        return new Issued(kp, new JcaX509CertificateConverter().getCertificate(b.build(signer)));
    }

    /** A leaf for {@code uri} signed by the CA certificate {@code issuer} (e.g. an {@link #intermediate}). */
    public static Issued leafUnder(Issued issuer, String uri) throws Exception {
        KeyPair kp = ecKey();
        var b = new JcaX509v3CertificateBuilder(new X500Name(issuer.cert().getSubjectX500Principal().getName()),
                BigInteger.valueOf(System.nanoTime()), Date.from(Instant.now().minusSeconds(60)),
                Date.from(Instant.now().plus(Duration.ofHours(1))), new X500Name(""), kp.getPublic());
        b.addExtension(Extension.subjectAlternativeName, true,
                new GeneralNames(new GeneralName(GeneralName.uniformResourceIdentifier, uri)));
        b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
        var signer = new JcaContentSignerBuilder("SHA256withECDSA").build(issuer.keys().getPrivate());
        return new Issued(kp, new JcaX509CertificateConverter().getCertificate(b.build(signer)));
    }

    /** A server certificate for the IP address {@code ip} (and {@code uri}), signed by {@code issuer}. */
    public static Issued serverLeaf(Issued issuer, String ip, String uri) throws Exception {
        KeyPair kp = ecKey();
        var b = new JcaX509v3CertificateBuilder(new X500Name(issuer.cert().getSubjectX500Principal().getName()),
                BigInteger.valueOf(System.nanoTime()), Date.from(Instant.now().minusSeconds(60)),
                Date.from(Instant.now().plus(Duration.ofHours(1))), new X500Name(""), kp.getPublic());
        b.addExtension(Extension.subjectAlternativeName, true, new GeneralNames(new GeneralName[] {
            new GeneralName(GeneralName.iPAddress, ip), new GeneralName(GeneralName.uniformResourceIdentifier, uri)}));
        b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
        var signer = new JcaContentSignerBuilder("SHA256withECDSA").build(issuer.keys().getPrivate());
        return new Issued(kp, new JcaX509CertificateConverter().getCertificate(b.build(signer)));
    }

    static KeyPair ecKey() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        return g.generateKeyPair();
    }
}
