package io.jmesh.loadtest.policy;

import io.jmesh.core.configlog.ConfigLog;
import io.jmesh.core.configlog.ConfigLogWriter;
import io.jmesh.kafkalocal.LocalKafka;
import io.jmesh.loadtest.BenchContext;
import io.jmesh.loadtest.ProcStatus;
import io.jmesh.loadtest.ResultTable;
import io.jmesh.loadtest.Scenario;
import io.jmesh.proto.ca.v1.TokenReviewGrpcService;
import io.jmesh.proto.ca.v1.TokenReviewResponse;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.testing.mesh.SyntheticMesh;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.grpc.server.GrpcServer;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;

/**
 * {@code policy-push}: one policy replica (the built jar, as a process) on a real Kafka config log, with
 * 1,000 simulated ztunnel delta-ADS streams over TLS, 50,000 workloads, 5,000 services and 2,000 policies. A
 * change (alternately: add a policy selecting a workload, move a workload to another node) is written to the
 * log; measured is the time until every stream has ACKed a response carrying it (every stream is affected:
 * the workload's Address changes). Baselines in the same run: the config-log write itself (acks=all) and the
 * first stream to ACK. Also the replica's RSS after the initial sync and at its peak.
 */
public final class PolicyPushScenario implements Scenario {

    @Override
    public String name() {
        return "policy-push";
    }

    @Override
    public String description() {
        return "policy replica: change written to the config log → every ztunnel stream has ACKed it";
    }

    @Override
    public ResultTable run(BenchContext ctx) throws Exception {
        Path jar = ctx.serviceJar("policy");
        if (!Files.exists(jar)) {
            throw new IllegalStateException(jar + " missing: run `make build` first");
        }
        boolean quick = ctx.quick();
        // -Dbench.policyPush.streams=N runs the full mesh with fewer streams (the figure is 1,000)
        int streams = Integer.getInteger("bench.policyPush.streams", quick ? 100 : 1_000);
        SyntheticMesh mesh = quick ? new SyntheticMesh(5_000, 500, 200, streams, 20)
                : new SyntheticMesh(50_000, 5_000, 2_000, streams, 100);
        int changes = quick ? 6 : 20;
        Path work = ctx.workDir();
        TestCa ca = TestCa.create(work);
        Vertx vertx = Vertx.vertx();
        Process[] policy = {null};
        try (LocalKafka kafka = LocalKafka.builder().dataDir(work.resolve("kafka")).heap("512m").build().start();
                ConfigLogWriter writer = new ConfigLogWriter(kafka.bootstrapServers(), "bench-writer")) {
            ConfigLog.ensureTopic(kafka.bootstrapServers(), new io.jmesh.core.kafka.TopicReplication("replicationFactor", 1),
                    Duration.ofSeconds(60));
            HttpServer tokenReview = tokenReview(vertx, ca);
            long t0 = System.nanoTime();
            List<CompletableFuture<?>> writes = new ArrayList<>();
            for (ConfigRecord r : mesh.records()) {
                writes.add(writer.put(r));
            }
            CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new)).get(5, TimeUnit.MINUTES);
            double loadSeconds = (System.nanoTime() - t0) / 1e9;

            int adsPort = freePort();
            int adminPort = freePort();
            Path config = Files.writeString(work.resolve("policy.yaml"), """
                    logLevel: info
                    admin: {host: 127.0.0.1, port: %d}
                    kafka: {bootstrapServers: "%s"}
                    # measured: pushes to streams in sync; the simulated ztunnels connect at once and never retry
                    xds: {host: 127.0.0.1, port: %d, certFile: "%s", keyFile: "%s",
                      admission: {maxNewStreamsPerSecond: 1000000, maxSyncingStreams: 1000000}}
                    tokenReview: {host: 127.0.0.1, port: %d, caFile: "%s"}
                    """.formatted(adminPort, kafka.bootstrapServers(), adsPort, ca.cert(), ca.key(),
                    tokenReview.actualPort(), ca.root()));
            t0 = System.nanoTime();
            policy[0] = new ProcessBuilder(List.of(javaBinary(), "-Xms256m", "-Xmx1g", "-jar", jar.toString(),
                    "--config", config.toString())).redirectErrorStream(true)
                    .redirectOutput(work.resolve("policy.log").toFile()).start();
            try {
                return measure(ctx, mesh, changes, ca, vertx, writer, tokenReview, t0, loadSeconds, adminPort,
                        adsPort, policy[0]);
            } finally {
                policy[0].destroy();
                if (!policy[0].waitFor(30, TimeUnit.SECONDS)) {
                    policy[0].destroyForcibly();
                }
            }
        } finally {
            vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
    }

    private static ResultTable measure(BenchContext ctx, SyntheticMesh mesh, int changes, TestCa ca, Vertx vertx,
            ConfigLogWriter writer, HttpServer tokenReview, long t0, double loadSeconds, int adminPort, int adsPort,
            Process policy) throws Exception {
        {
            awaitReady(adminPort, policy);
            double replaySeconds = (System.nanoTime() - t0) / 1e9;

            long expected = (long) mesh.workloads() + mesh.services();
            t0 = System.nanoTime();
            ResultTable table;
            try (SimulatedZtunnels streams = new SimulatedZtunnels(vertx, ca.root(), adsPort, mesh.nodes(),
                    expected)) {
                if (!streams.synced.await(10, TimeUnit.MINUTES)) {
                    throw new IllegalStateException(streams.synced.getCount() + " streams never synced");
                }
                double syncSeconds = (System.nanoTime() - t0) / 1e9;
                long rssSynced = ProcStatus.rssKib(policy.pid()) * 1024;

                Histogram write = new Histogram(3);
                Histogram first = new Histogram(3);
                Histogram all = new Histogram(3);
                Histogram perStream = new Histogram(3);
                for (int c = 0; c < changes; c++) {
                    int wl = (c * 7919) % mesh.workloads();
                    ConfigRecord change = c % 2 == 0
                            ? mesh.policy("bench-" + c, wl % mesh.services(), c)
                            : mesh.workload(wl, "node-" + ((wl + 1 + c) % mesh.nodes()));
                    SimulatedZtunnels.Watch w = new SimulatedZtunnels.Watch(mesh.workloadUid(wl), streams.streams());
                    streams.watch(w);
                    long start = System.nanoTime();
                    writer.put(change).get(30, TimeUnit.SECONDS);
                    write.recordValue(System.nanoTime() - start);
                    if (!w.remaining.await(2, TimeUnit.MINUTES)) {
                        throw new IllegalStateException(w.remaining.getCount() + " streams never ACKed change " + c);
                    }
                    long firstAck = Long.MAX_VALUE;
                    long lastAck = 0;
                    for (long t : w.ackedAt) {
                        firstAck = Math.min(firstAck, t);
                        lastAck = Math.max(lastAck, t);
                        perStream.recordValue(Math.max(0, t - start));
                    }
                    first.recordValue(Math.max(0, firstAck - start));
                    all.recordValue(lastAck - start);
                    Thread.sleep(200);
                }
                long rssPeak = ProcStatus.peakRssKib(policy.pid()) * 1024;
                table = new ResultTable("measure", "p50 ms", "p99 ms", "max ms", "goal");
                table.row("config log write (acks=all), baseline", ms(write, 50), ms(write, 99), ms(write, 100), "");
                table.row("first stream ACKed", ms(first, 50), ms(first, 99), ms(first, 100), "");
                table.row("each stream ACKed", ms(perStream, 50), ms(perStream, 99), ms(perStream, 100), "");
                table.row("all " + streams.streams() + " streams ACKed", ms(all, 50), ms(all, 99), ms(all, 100),
                        ms(all, 99) <= 1000 ? "met (p99 ≤ 1 s)" : "missed (p99 ≤ 1 s)");
                table.note("Mesh: " + mesh.workloads() + " workloads, " + mesh.services() + " services, "
                        + mesh.policies() + " policies, " + mesh.namespaces() + " namespaces, " + streams.streams()
                        + " streams (one per node), " + changes + " changes alternating add-policy / move-workload;"
                        + " each change alters one workload's Address, which every stream receives.");
                table.note(String.format("Replica RSS: %.0f MiB after the initial sync of every stream, peak %.0f MiB"
                        + " (-Xmx1g). Loading the log: %.1f s to write, %.1f s for the replica to replay and be"
                        + " ready, %.1f s for all streams to receive the full snapshot.", rssSynced / 1048576.0,
                        rssPeak / 1048576.0, loadSeconds, replaySeconds, syncSeconds));
                table.note("Everything on one 2-vCPU machine: Kafka, the replica and the " + streams.streams()
                        + " simulated ztunnels compete for the same cores.");
            }
            tokenReview.close();
            return table;
        }
    }

    private static double ms(Histogram h, double percentile) {
        return (percentile >= 100 ? h.getMaxValue() : h.getValueAtPercentile(percentile)) / 1e6;
    }

    /** A TokenReview stand-in: token {@code token-<node>} authenticates {@code <node>}. */
    private static HttpServer tokenReview(Vertx vertx, TestCa ca) throws Exception {
        GrpcServer grpc = GrpcServer.server(vertx);
        grpc.callHandler(TokenReviewGrpcService.Review, call -> call.handler(req -> {
            String token = req.getToken();
            TokenReviewResponse.Builder r = TokenReviewResponse.newBuilder();
            if (token.startsWith("token-")) {
                r.setAuthenticated(true).setNode(token.substring(6))
                        .setIdentity("spiffe://cluster.local/ns/istio-system/sa/ztunnel");
            } else {
                r.setError("unknown token");
            }
            call.response().end(r.build());
        }));
        return vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(0).setSsl(true)
                        .setUseAlpn(true).setAlpnVersions(List.of(HttpVersion.HTTP_2))
                        .setKeyCertOptions(new PemKeyCertOptions().setCertValue(Buffer.buffer(Files.readString(ca.cert())))
                                .setKeyValue(Buffer.buffer(Files.readString(ca.key())))))
                .requestHandler(grpc).listen().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    private static void awaitReady(int adminPort, Process p) throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
        while (System.nanoTime() < deadline) {
            if (!p.isAlive()) {
                throw new IllegalStateException("policy exited with " + p.exitValue());
            }
            try {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + adminPort + "/healthz/ready")).build(),
                        HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200) {
                    return;
                }
            } catch (IOException e) {
                // not listening yet
            }
            Thread.sleep(250);
        }
        throw new IllegalStateException("policy not ready within 5 minutes");
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static String javaBinary() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }
}
