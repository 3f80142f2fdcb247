package io.jmesh.loadtest.ca;

import io.jmesh.ca.CaBootstrap;
import io.jmesh.ca.CaConfig;
import io.jmesh.ca.root.CaAuthority;
import io.jmesh.ca.signing.CsrValidator;
import io.jmesh.ca.signing.LeafSigner;
import io.jmesh.core.config.ConfigLoader;
import io.jmesh.core.lifecycle.ServiceLauncher;
import io.jmesh.core.logging.JsonLogging;
import io.jmesh.core.tls.Pem;
import io.jmesh.loadtest.BenchContext;
import io.jmesh.loadtest.ResultTable;
import io.jmesh.loadtest.Scenario;
import io.jmesh.proto.istio.v1.auth.IstioCertificateRequest;
import io.jmesh.proto.istio.v1.auth.IstioCertificateResponse;
import io.jmesh.proto.istio.v1.auth.IstioCertificateServiceGrpcClient;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientResponse;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.ExtensionsGenerator;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

/**
 * {@code ca-signing}: ECDSA P-256 workload certificates signed per second by a real CA over gRPC + TLS 1.3 +
 * HTTP/2, with concurrent clients (several connections, many streams each, closed loop), and p50/p99 latency.
 * Baseline in the same run: the same CSR check and signature done in process on as many threads as the CA's
 * signing pool, without any transport — the ceiling the transport is measured against.
 *
 * <p>CSRs (ztunnel's shape: P-256, SHA-256, one SPIFFE URI SAN) are made before the measurement and reused
 * round-robin, so the client spends no CPU on key generation during it (a ztunnel makes its keys on its own node).
 */
public final class CaSigningScenario implements Scenario {

    /** The node's own identity: authenticated and authorized like any request, without a placement lookup. */
    private static final String IDENTITY = "spiffe://cluster.local/ns/istio-system/sa/ztunnel";
    private static final int CSRS = 512;

    @Override
    public String name() {
        return "ca-signing";
    }

    @Override
    public String description() {
        return "ca: ECDSA P-256 certificates signed per second over gRPC/TLS 1.3 with concurrent clients"
                + " (goal >= 2,000/s on 2 cores), against raw in-process signing";
    }

    @Override
    public ResultTable run(BenchContext ctx) throws Exception {
        JsonLogging.install("warn");
        double loadAtStart = java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        Duration warmup = ctx.quick() ? Duration.ofSeconds(2) : Duration.ofSeconds(8);
        Duration measure = ctx.duration();
        List<String> csrs = csrs(ctx.quick() ? 64 : CSRS);

        Map<String, String> env = new HashMap<>();
        env.put("MESH_STATE_DIR", ctx.workDir().resolve("ca-state").toString());
        env.put("MESH_GRPC_HOST", "127.0.0.1");
        env.put("MESH_GRPC_PORT", "0");
        env.put("MESH_ADMIN_HOST", "127.0.0.1");
        env.put("MESH_ADMIN_PORT", "0");
        env.put("MESH_LOG_LEVEL", "warn");
        CaConfig config = ConfigLoader.load(CaConfig.class, "ca", null, env).config();
        Vertx caVertx = ServiceLauncher.newVertx();
        ServiceLauncher.Running<CaConfig> running = ServiceLauncher.start(config, caVertx, CaBootstrap::new)
                .toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
        // the per-certificate audit line goes to the log; the benchmark measures issuance, not stdout
        JsonLogging.setLevel("io.jmesh.ca.audit", "warn");
        CaBootstrap ca = (CaBootstrap) running.service();
        String token = ca.tokens().createForNode("bench-node", null, "bench", "ca-signing").token();
        int signingThreads = config.certificates().effectiveSigningThreads();
        ResultTable table = new ResultTable("variant", "concurrency", "certs/s", "p50 ms", "p99 ms", "vs baseline",
                "CPU µs/cert");
        try {
            Result baseline = inProcess(ca.authority(), csrs, signingThreads, warmup, measure);
            table.row("baseline: in-process check + sign, no transport", signingThreads + " threads",
                    round(baseline.perSecond), ms(baseline.histogram, 50), ms(baseline.histogram, 99), "1.00",
                    round(baseline.cpuMicrosPerCert));
            Vertx clientVertx = Vertx.vertx();
            try {
                for (int[] shape : new int[][] {{1, 8}, {4, 16}, {8, 32}}) {
                    Result r = overGrpc(clientVertx, ca, token, csrs, shape[0], shape[1], warmup, measure);
                    table.row("gRPC/TLS 1.3, " + shape[0] + " connection(s) x " + shape[1] + " streams",
                            shape[0] * shape[1] + " in flight", round(r.perSecond), ms(r.histogram, 50),
                            ms(r.histogram, 99), String.format("%.2f", r.perSecond / baseline.perSecond),
                            round(r.cpuMicrosPerCert));
                }
            } finally {
                clientVertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
            }
        } finally {
            running.shutdown(Duration.ofSeconds(5));
        }
        table.note("Machine load average when the run started: " + String.format("%.2f", loadAtStart)
                + " (certs/s and latency depend on it; CPU µs/cert hardly does: " + Runtime.getRuntime()
                .availableProcessors() + " x 1e6 / CPU µs/cert bounds the rate on idle cores).");
        table.note("Closed loop: each stream sends its next CSR when the previous answer arrives; latency is per"
                + " request, client-observed. Client, CA and baseline share the same " + Runtime.getRuntime()
                .availableProcessors() + " CPUs. CA: " + config.grpc().effectiveEventLoops() + " event loops, "
                + signingThreads + " signing threads, every request authenticated (bearer token), CSR verified,"
                + " leaf signed (P-256 root), journaled; audit log lines off, no Kafka (audit events dropped and"
                + " counted). Warm-up " + warmup.toSeconds() + " s, measured " + measure.toSeconds() + " s each.");
        return table;
    }

    /**
     * @param cpuMicrosPerCert CPU time of the whole process (client + CA) per certificate: unlike certs/s it
     *     hardly depends on what else the machine runs, so {@code cores * 1e6 / cpuMicrosPerCert} bounds the
     *     rate on idle cores
     */
    private record Result(double perSecond, Histogram histogram, double cpuMicrosPerCert) {}

    private static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
                .getOperatingSystemMXBean()).getProcessCpuTime();
    }

    private static Result inProcess(CaAuthority ca, List<String> csrs, int threads, Duration warmup, Duration measure)
            throws Exception {
        CsrValidator validator = new CsrValidator(16384);
        LeafSigner signer = new LeafSigner(Duration.ofMinutes(5));
        Recorder recorder = new Recorder(3);
        AtomicLong done = new AtomicLong();
        AtomicBoolean measuring = new AtomicBoolean();
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int offset = t;
            Thread w = new Thread(() -> {
                int i = offset;
                while (!stop.get()) {
                    long start = System.nanoTime();
                    try {
                        signer.sign(validator.validate(csrs.get(i++ % csrs.size())), Duration.ofHours(24), ca,
                                Instant.now());
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                    if (measuring.get()) {
                        recorder.recordValue(System.nanoTime() - start);
                        done.incrementAndGet();
                    }
                }
            }, "bench-sign-" + t);
            w.start();
            workers.add(w);
        }
        Thread.sleep(warmup.toMillis());
        recorder.reset();
        measuring.set(true);
        long t0 = System.nanoTime();
        long cpu0 = processCpuNanos();
        Thread.sleep(measure.toMillis());
        measuring.set(false);
        long cpu = processCpuNanos() - cpu0;
        long elapsed = System.nanoTime() - t0;
        stop.set(true);
        for (Thread w : workers) {
            w.join(10_000);
        }
        return new Result(done.get() * 1e9 / elapsed, recorder.getIntervalHistogram(),
                cpu / 1e3 / Math.max(1, done.get()));
    }

    private static Result overGrpc(Vertx vertx, CaBootstrap ca, String token, List<String> csrs, int connections,
            int streams, Duration warmup, Duration measure) throws Exception {
        SocketAddress addr = SocketAddress.inetSocketAddress(ca.grpcPort(), "127.0.0.1");
        String roots = ca.authority().rootsPem();
        Recorder recorder = new Recorder(3);
        AtomicLong done = new AtomicLong();
        AtomicLong failed = new AtomicLong();
        AtomicBoolean measuring = new AtomicBoolean();
        AtomicBoolean stop = new AtomicBoolean();
        CountDownLatch finished = new CountDownLatch(connections * streams);
        List<GrpcClient> clients = new ArrayList<>();
        List<IstioCertificateRequest> requests = new ArrayList<>();
        csrs.forEach(c -> requests.add(IstioCertificateRequest.newBuilder().setCsr(c).setValidityDuration(86_400)
                .build()));
        for (int c = 0; c < connections; c++) {
            GrpcClient client = GrpcClient.client(vertx, new HttpClientOptions().setSsl(true).setUseAlpn(true)
                    .setProtocolVersion(HttpVersion.HTTP_2).setHttp2MultiplexingLimit(streams)
                    .setTrustOptions(new PemTrustOptions().addCertValue(Buffer.buffer(roots))));
            clients.add(client);
            for (int s = 0; s < streams; s++) {
                int[] next = {c * streams + s};
                Runnable[] loop = new Runnable[1];
                loop[0] = () -> {
                    if (stop.get()) {
                        finished.countDown();
                        return;
                    }
                    IstioCertificateRequest req = requests.get(next[0]++ % requests.size());
                    long start = System.nanoTime();
                    client.request(addr, IstioCertificateServiceGrpcClient.CreateCertificate).compose(call -> {
                        call.headers().set("authorization", "Bearer " + token);
                        call.end(req);
                        return call.response();
                    }).compose(GrpcClientResponse::last).onComplete(ar -> {
                        if (measuring.get()) {
                            if (ar.succeeded() && ar.result().getCertChainCount() > 0) {
                                recorder.recordValue(System.nanoTime() - start);
                                done.incrementAndGet();
                            } else {
                                failed.incrementAndGet();
                            }
                        }
                        loop[0].run();
                    });
                };
                vertx.runOnContext(v -> loop[0].run());
            }
        }
        Thread.sleep(warmup.toMillis());
        recorder.reset();
        measuring.set(true);
        long t0 = System.nanoTime();
        long cpu0 = processCpuNanos();
        Thread.sleep(measure.toMillis());
        measuring.set(false);
        long cpu = processCpuNanos() - cpu0;
        long elapsed = System.nanoTime() - t0;
        stop.set(true);
        finished.await(30, TimeUnit.SECONDS);
        for (GrpcClient c : clients) {
            c.close();
        }
        if (failed.get() > 0) {
            throw new IllegalStateException(failed.get() + " requests failed during the measurement");
        }
        return new Result(done.get() * 1e9 / elapsed, recorder.getIntervalHistogram(),
                cpu / 1e3 / Math.max(1, done.get()));
    }

    private static List<String> csrs(int n) throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        ExtensionsGenerator ext = new ExtensionsGenerator();
        ext.addExtension(Extension.subjectAlternativeName, true,
                new GeneralNames(new GeneralName(GeneralName.uniformResourceIdentifier, IDENTITY)));
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            KeyPair kp = g.generateKeyPair();
            var b = new JcaPKCS10CertificationRequestBuilder(new X500Name(new org.bouncycastle.asn1.x500.RDN[0]),
                    kp.getPublic());
            b.addAttribute(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest, ext.generate());
            out.add(io.jmesh.ca.signing.CsrPem.encode(b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(kp.getPrivate()))));
        }
        return out;
    }

    private static long round(double d) {
        return Math.round(d);
    }

    private static double ms(Histogram h, double percentile) {
        return Math.round(h.getValueAtPercentile(percentile) / 1e4) / 100.0;
    }
}
