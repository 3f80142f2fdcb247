package io.jmesh.ztunnel.dns;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.lifecycle.ServiceLauncher;
import io.jmesh.testing.fuzz.LeakWatch;
import io.jmesh.ztunnel.discovery.StaticConfigFile;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.jmesh.ztunnel.tunnel.NetTransport;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The forwarder moves on to the next upstream server as Istio's (hickory's name server pool) does: after a
 * SERVFAIL, a REFUSED, or a negative answer (NXDOMAIN, or NOERROR without records) whose authority section holds no
 * SOA or NS; an authoritative negative answer or a truncated one is the answer. It asks two servers at once by
 * default, as hickory does; the tests that pin the order of tries ask one at a time ({@code dns.upstreamConcurrency:
 * 1}). Real UDP and TCP servers on loopback, scripted per test; the client asks over raw sockets.
 */
class UpstreamFailoverTest {

    static final String CLIENT_IP = "127.0.44.1";
    static final String PROXY_IP = "127.0.44.53";

    @TempDir
    static Path dir;

    static Vertx vertx;
    static WorkloadStore store = new WorkloadStore();

    final List<ScriptedUpstream> upstreams = new ArrayList<>();
    PrometheusRegistry registry;
    DnsProxy proxy;

    @BeforeAll
    static void mesh() throws Exception {
        vertx = ServiceLauncher.newVertx(2);
        Path f = dir.resolve("mesh.yaml");
        Files.writeString(f, """
                workloads:
                  - {uid: c, name: client, namespace: ns1, addresses: [%s], node: node-a, tunnelProtocol: HBONE,
                     canonicalName: client, canonicalRevision: v1}
                """.formatted(CLIENT_IP));
        store.replaceAll(StaticConfigFile.read(f).addresses());
    }

    @AfterAll
    static void down() throws Exception {
        vertx.close().await(10, TimeUnit.SECONDS);
    }

    @AfterEach
    void stop() throws Exception {
        if (proxy != null) {
            proxy.close().await(5, TimeUnit.SECONDS);
        }
        for (ScriptedUpstream u : upstreams) {
            u.close();
        }
    }

    @ParameterizedTest(name = "{0} over {1}")
    @CsvSource({
        "SERVFAIL, udp, servfail", "SERVFAIL, tcp, servfail",
        "REFUSED, udp, refused", "REFUSED, tcp, refused",
        "NXDOMAIN, udp, nxdomain", "NXDOMAIN, tcp, nxdomain",
        "NODATA, udp, nodata", "NODATA, tcp, nodata",
        "FORMERR, udp, rcode", "FORMERR, tcp, rcode"})
    void aFailingOrNonAuthoritativeNegativeAnswerIsFollowedByTheNextServersAnswer(Behaviour first, String protocol,
            String reason) throws Exception {
        ScriptedUpstream a = upstream("127.0.45.1", first);
        ScriptedUpstream b = upstream("127.0.45.2", Behaviour.ANSWER);
        startOneAtATime(Duration.ofSeconds(2), a, b);
        byte[] answer = ask(protocol, query(0x7171, "www.example.org", 1));
        assertThat(rcode(answer)).as("RCODE").isZero();
        assertThat(id(answer)).isEqualTo(0x7171);
        assertThat(ancount(answer)).as("ANCOUNT").isEqualTo(1);
        assertThat(Arrays.copyOfRange(answer, answer.length - 4, answer.length)).as("the second server's address")
                .containsExactly(192, 0, 2, 2);
        assertThat(a.queries(protocol)).isEqualTo(1);
        assertThat(b.queries(protocol)).isEqualTo(1);
        assertThat(metric("ztunnel_dns_upstream_retries_total{protocol=\"" + protocol + "\",reason=\"" + reason
                + "\"}")).isEqualTo(1);
    }

    @ParameterizedTest
    @ValueSource(strings = {"udp", "tcp"})
    void anNxdomainWithAnSoaIsTheAnswerAndTheNextServerIsNeverAsked(String protocol) throws Exception {
        ScriptedUpstream a = upstream("127.0.45.1", Behaviour.NXDOMAIN_SOA);
        ScriptedUpstream b = upstream("127.0.45.2", Behaviour.ANSWER);
        startOneAtATime(Duration.ofSeconds(2), a, b);
        byte[] q = query(0x7272, "nx.example.org", 1);
        byte[] answer = ask(protocol, q);
        assertThat(answer).as("the first server's answer, byte for byte")
                .isEqualTo(Behaviour.NXDOMAIN_SOA.answer(q, 1));
        assertThat(b.queries(protocol)).isZero();
    }

    @ParameterizedTest
    @ValueSource(strings = {"udp", "tcp"})
    void aTruncatedEmptyAnswerIsRelayedAsItIsForTheClientToAskOverTcp(String protocol) throws Exception {
        ScriptedUpstream a = upstream("127.0.45.1", Behaviour.TRUNCATED);
        ScriptedUpstream b = upstream("127.0.45.2", Behaviour.ANSWER);
        startOneAtATime(Duration.ofSeconds(2), a, b);
        byte[] q = query(0x7373, "big.example.org", 1);
        assertThat(ask(protocol, q)).isEqualTo(Behaviour.TRUNCATED.answer(q, 1));
        assertThat(b.queries(protocol)).isZero();
    }

    @ParameterizedTest
    @ValueSource(strings = {"udp", "tcp"})
    void whenEveryServerFailsTheClientGetsTheFirstAnswerAndNoServerIsAskedTwice(String protocol) throws Exception {
        ScriptedUpstream a = upstream("127.0.45.1", Behaviour.SERVFAIL);
        ScriptedUpstream b = upstream("127.0.45.2", Behaviour.REFUSED);
        start(Duration.ofSeconds(2), 3, 1, a, b);
        byte[] q = query(0x7474, "broken.example.org", 1);
        assertThat(ask(protocol, q)).as("the first server's SERVFAIL, byte for byte")
                .isEqualTo(Behaviour.SERVFAIL.answer(q, 1));
        assertThat(a.queries(protocol)).as("asked once: its answer stands, though a third attempt is allowed")
                .isEqualTo(1);
        assertThat(b.queries(protocol)).isEqualTo(1);
        assertThat(metric("ztunnel_dns_upstream_retries_total{protocol=\"" + protocol + "\",reason=\"servfail\"}"))
                .isEqualTo(1);
        assertThat(metric("ztunnel_dns_upstream_retries_total{protocol=\"" + protocol + "\",reason=\"refused\"}"))
                .as("the last answer sends the query nowhere").isZero();
        assertThat(failures(protocol)).as("one query not answered with records, as Istio counts it").isEqualTo(1);
    }

    /**
     * {@code istio_dns_upstream_failures_total} counts what Istio's counts: every forwarded query its forwarder
     * (hickory's {@code lookup}) returns as an error, which is every answer without records (NXDOMAIN and NODATA,
     * the zone's SOA or not, an error RCODE) and no answer at all; not an answer with records, nor a truncated one
     * (the client asks again over TCP, and that query is counted on its own).
     */
    @ParameterizedTest(name = "{0} over {1}")
    @CsvSource({
        "ANSWER, udp, 0", "ANSWER, tcp, 0",
        "NXDOMAIN_SOA, udp, 1", "NXDOMAIN_SOA, tcp, 1",
        "NXDOMAIN, udp, 1", "NXDOMAIN, tcp, 1",
        "NODATA, udp, 1", "NODATA, tcp, 1",
        "SERVFAIL, udp, 1", "SERVFAIL, tcp, 1",
        "SILENT, udp, 1", "SILENT, tcp, 1",
        "TRUNCATED, udp, 0", "TRUNCATED, tcp, 0"})
    void anUpstreamFailureIsEveryForwardedQueryNotAnsweredWithRecordsAsIstioCountsIt(Behaviour only,
            String protocol, int failures) throws Exception {
        start(Duration.ofMillis(300), upstream("127.0.45.1", only));
        ask(protocol, query(0x7777, "counted.example.org", 1));
        assertThat(failures(protocol)).isEqualTo(failures);
    }

    private double failures(String protocol) {
        return metric("istio_dns_upstream_failures_total{request_query_type=\"a\",request_protocol=\"" + protocol
                + "\",source_canonical_service=\"client\",source_canonical_revision=\"v1\"}");
    }

    @ParameterizedTest
    @ValueSource(strings = {"udp", "tcp"})
    void aFailingAnswerOutlivesALaterServersSilence(String protocol) throws Exception {
        ScriptedUpstream a = upstream("127.0.45.1", Behaviour.SERVFAIL);
        ScriptedUpstream b = upstream("127.0.45.2", Behaviour.SILENT);
        start(Duration.ofMillis(300), a, b);
        byte[] q = query(0x7575, "flaky.example.org", 1);
        assertThat(ask(protocol, q)).as("the first server's SERVFAIL, byte for byte")
                .isEqualTo(Behaviour.SERVFAIL.answer(q, 1));
        assertThat(b.queries(protocol)).isEqualTo(1);
    }

    /**
     * A server that went silent is held down for ten timeouts: the queries meanwhile start with the next server
     * instead of each waiting out its timeout (hickory, Istio's forwarder, orders its servers by their record
     * likewise); after that it is asked first again.
     */
    @ParameterizedTest
    @ValueSource(strings = {"udp", "tcp"})
    void aServerThatWentSilentIsNotAskedFirstByTheQueriesAfterItForAWhile(String protocol) throws Exception {
        ScriptedUpstream a = upstream("127.0.45.1", Behaviour.SILENT);
        ScriptedUpstream b = upstream("127.0.45.2", Behaviour.ANSWER);
        startOneAtATime(Duration.ofMillis(300), a, b);
        for (int i = 0; i < 3; i++) {
            assertThat(lastAddressByte(ask(protocol, query(0x7800 + i, "www.example.org", 1))))
                    .as("the second server's address").isEqualTo(2);
        }
        assertThat(a.queries(protocol)).as("the silent server, asked by the first query only").isEqualTo(1);
        assertThat(b.queries(protocol)).isEqualTo(3);
        assertThat(metric("ztunnel_dns_upstream_retries_total{protocol=\"" + protocol + "\",reason=\"no_answer\"}"))
                .isEqualTo(1);
        // back: once its hold-down (3 s here) is over, it is asked first and answers
        a.behave(Behaviour.ANSWER);
        int[] id = {0x7810};
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(250)).until(
                () -> lastAddressByte(ask(protocol, query(id[0]++, "www.example.org", 1))) == 1);
        assertThat(metric("ztunnel_dns_upstream_retries_total{protocol=\"" + protocol + "\",reason=\"no_answer\"}"))
                .as("the first server was never waited for again").isEqualTo(1);
    }

    private static int lastAddressByte(byte[] answer) {
        return answer[answer.length - 1];
    }

    /** With every server held down the configured order stands: a query is still asked, and answered, whole. */
    @ParameterizedTest
    @ValueSource(strings = {"udp", "tcp"})
    void whenEveryServerWentSilentTheNextQueryStillAsksThemInOrder(String protocol) throws Exception {
        ScriptedUpstream a = upstream("127.0.45.1", Behaviour.SILENT);
        ScriptedUpstream b = upstream("127.0.45.2", Behaviour.SILENT);
        start(Duration.ofMillis(300), a, b);
        for (int i = 0; i < 2; i++) {
            assertThat(rcode(ask(protocol, query(0x7900 + i, "www.example.org", 1)))).as("SERVFAIL").isEqualTo(2);
        }
        assertThat(a.queries(protocol)).isEqualTo(2);
        assertThat(b.queries(protocol)).isEqualTo(2);
    }

    @ParameterizedTest
    @ValueSource(strings = {"udp", "tcp"})
    void anAnswerToAnotherQuestionIsNotTakenAndTheNextServerIsAsked(String protocol) throws Exception {
        ScriptedUpstream a = upstream("127.0.45.1", Behaviour.OTHER_QUESTION);
        ScriptedUpstream b = upstream("127.0.45.2", Behaviour.ANSWER);
        startOneAtATime(Duration.ofMillis(500), a, b);
        byte[] answer = ask(protocol, query(0x7676, "www.example.org", 1));
        assertThat(Arrays.copyOfRange(answer, 12, 12 + 4)).as("the question asked").containsExactly(3, 'w', 'w', 'w');
        assertThat(Arrays.copyOfRange(answer, answer.length - 4, answer.length)).as("the second server's address")
                .containsExactly(192, 0, 2, 2);
        assertThat(metric("ztunnel_dns_upstream_retries_total{protocol=\"" + protocol + "\",reason=\"no_answer\"}"))
                .isEqualTo(1);
    }

    // ---- two servers at once (the default, as hickory) ----

    /**
     * A silent first server costs no timeout: the second, asked at the same time, answers and that is the answer
     * (the timeout here outlasts the client's patience). Its silence was never waited out, so it is not held down:
     * the next query asks it again, as hickory asks its two best servers every time.
     */
    @ParameterizedTest
    @ValueSource(strings = {"udp", "tcp"})
    void aSilentFirstServerCostsNoTimeoutWhenTheSecondIsAskedAtTheSameTime(String protocol) throws Exception {
        ScriptedUpstream a = upstream("127.0.45.1", Behaviour.SILENT);
        ScriptedUpstream b = upstream("127.0.45.2", Behaviour.ANSWER);
        start(Duration.ofSeconds(30), a, b);
        for (int i = 0; i < 2; i++) {
            assertThat(lastAddressByte(ask(protocol, query(0x7a00 + i, "www.example.org", 1))))
                    .as("the second server's address").isEqualTo(2);
        }
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(a.queries(protocol)).isEqualTo(2));
        assertThat(b.queries(protocol)).isEqualTo(2);
        assertThat(retriesOf(protocol)).as("nothing passed over: each query was answered by a server it asked")
                .isZero();
    }

    /**
     * Both servers asked at once fail: the client gets the answer of the server asked first, whichever came first
     * (here the second's, the first's is held back), so the answer does not depend on a race; one of the two was
     * passed over while the other was awaited.
     */
    @ParameterizedTest
    @ValueSource(strings = {"udp", "tcp"})
    void whenBothServersAskedAtOnceFailTheClientGetsTheFirstAskedServersAnswer(String protocol) throws Exception {
        ScriptedUpstream a = upstream("127.0.45.1", Behaviour.SERVFAIL);
        ScriptedUpstream b = upstream("127.0.45.2", Behaviour.REFUSED);
        a.delay(Duration.ofMillis(300));
        start(Duration.ofSeconds(2), a, b);
        byte[] q = query(0x7b7b, "broken.example.org", 1);
        assertThat(ask(protocol, q)).as("the first server's SERVFAIL, byte for byte")
                .isEqualTo(Behaviour.SERVFAIL.answer(q, 1));
        assertThat(a.queries(protocol)).isEqualTo(1);
        assertThat(b.queries(protocol)).isEqualTo(1);
        assertThat(retriesOf(protocol)).isEqualTo(1);
        assertThat(failures(protocol)).isEqualTo(1);
    }

    /**
     * Three servers, two at a time, three attempts: the first is silent and the second fails, so the third is asked
     * as soon as the second's answer is passed over, without waiting for the first, and its answer is the client's.
     */
    @ParameterizedTest
    @ValueSource(strings = {"udp", "tcp"})
    void aFailedAnswerSendsTheQueryToTheNextServerWhileTheOtherIsStillAwaited(String protocol) throws Exception {
        ScriptedUpstream a = upstream("127.0.45.1", Behaviour.SILENT);
        ScriptedUpstream b = upstream("127.0.45.2", Behaviour.SERVFAIL);
        ScriptedUpstream c = upstream("127.0.45.3", Behaviour.ANSWER);
        start(Duration.ofSeconds(30), 3, 2, a, b, c);
        byte[] answer = ask(protocol, query(0x7c7c, "www.example.org", 1));
        assertThat(lastAddressByte(answer)).as("the third server's address").isEqualTo(3);
        assertThat(b.queries(protocol)).isEqualTo(1);
        assertThat(c.queries(protocol)).isEqualTo(1);
        assertThat(metric("ztunnel_dns_upstream_retries_total{protocol=\"" + protocol + "\",reason=\"servfail\"}"))
                .isEqualTo(1);
        assertThat(metric("ztunnel_dns_upstream_retries_total{protocol=\"" + protocol + "\",reason=\"no_answer\"}"))
                .as("the silent server was let go when the query ended, not waited out").isZero();
    }

    /**
     * A TCP query still waiting for a silent server when ztunnel shuts down (the proxy closed, then the event loops):
     * no server is asked after the close, and the SERVFAIL its client can no longer be sent is released, not leaked,
     * though the connection's thread is gone by then.
     */
    @Test
    void aTcpQueryAwaitingUpstreamAtShutdownAsksNothingMoreAndLeaksNothing() throws Exception {
        ScriptedUpstream a = upstream("127.0.45.1", Behaviour.SILENT);
        ScriptedUpstream b = upstream("127.0.45.2", Behaviour.ANSWER);
        Vertx own = ServiceLauncher.newVertx(2);
        DnsProxy closing = new DnsProxy(NetTransport.of(own), store, new DnsProxy.Settings("node-a",
                InetAddress.getByName(PROXY_IP), 0, "cluster.local", Duration.ofSeconds(10),
                List.of(a.address(), b.address()), Duration.ofSeconds(30), 2, 1, 64, 150, 32), new PrometheusRegistry());
        closing.start().await(10, TimeUnit.SECONDS);
        LeakWatch.reset();
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(CLIENT_IP, 0));
            s.connect(closing.address(), 2000);
            byte[] q = query(0x7d7d, "www.example.org", 1);
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            out.writeShort(q.length);
            out.write(q);
            out.flush();
            await().atMost(Duration.ofSeconds(5)).until(() -> a.queries("tcp") == 1);
            closing.close().await(5, TimeUnit.SECONDS);
            own.close().await(10, TimeUnit.SECONDS); // the silent server's connection closes with its loop
        }
        assertThat(b.queries("tcp")).as("asked after the close").isZero();
        assertThat(LeakWatch.leaks()).isEmpty();
    }

    private double retriesOf(String protocol) {
        double sum = 0;
        for (String reason : Upstream.RETRY_REASONS) {
            sum += metric("ztunnel_dns_upstream_retries_total{protocol=\"" + protocol + "\",reason=\"" + reason
                    + "\"}");
        }
        return sum;
    }

    // ---- helpers ----

    private ScriptedUpstream upstream(String ip, Behaviour behaviour) throws IOException {
        ScriptedUpstream u = new ScriptedUpstream(ip, upstreams.size() + 1, behaviour);
        upstreams.add(u);
        return u;
    }

    /** Two attempts, two servers asked at once: the defaults. */
    private void start(Duration timeout, ScriptedUpstream... servers) throws Exception {
        start(timeout, 2, 2, servers);
    }

    private void startOneAtATime(Duration timeout, ScriptedUpstream... servers) throws Exception {
        start(timeout, 2, 1, servers);
    }

    private void start(Duration timeout, int attempts, int concurrency, ScriptedUpstream... servers)
            throws Exception {
        registry = new PrometheusRegistry();
        List<InetSocketAddress> addresses = Arrays.stream(servers).map(ScriptedUpstream::address).toList();
        proxy = new DnsProxy(NetTransport.of(vertx), store, new DnsProxy.Settings("node-a",
                InetAddress.getByName(PROXY_IP), 0, "cluster.local", Duration.ofSeconds(10), addresses, timeout,
                attempts, concurrency, 64, 150, 32), registry);
        proxy.start().await(10, TimeUnit.SECONDS);
    }

    private byte[] ask(String protocol, byte[] q) throws IOException {
        if (protocol.equals("udp")) {
            try (DatagramSocket s = new DatagramSocket(new InetSocketAddress(CLIENT_IP, 0))) {
                s.setSoTimeout(5000);
                s.send(new DatagramPacket(q, q.length, proxy.address()));
                byte[] buf = new byte[4096];
                DatagramPacket p = new DatagramPacket(buf, buf.length);
                s.receive(p);
                return Arrays.copyOf(buf, p.getLength());
            }
        }
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(CLIENT_IP, 0));
            s.connect(proxy.address(), 2000);
            s.setSoTimeout(5000);
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            out.writeShort(q.length);
            out.write(q);
            out.flush();
            DataInputStream in = new DataInputStream(s.getInputStream());
            byte[] a = new byte[in.readUnsignedShort()];
            in.readFully(a);
            return a;
        }
    }

    static byte[] query(int id, String name, int type) {
        return DnsProxyTest.query(id, name, type);
    }

    private static int id(byte[] m) {
        return (m[0] & 0xFF) << 8 | m[1] & 0xFF;
    }

    private static int rcode(byte[] m) {
        return m[3] & 0x0F;
    }

    private static int ancount(byte[] m) {
        return (m[6] & 0xFF) << 8 | m[7] & 0xFF;
    }

    private double metric(String series) {
        return io.jmesh.ztunnel.testing.SeriesValue.of(registry, series);
    }

    /** What a scripted server answers; {@code n} (1, 2, ...) tells the servers' addresses apart. */
    enum Behaviour {
        ANSWER(0, true, false, false),
        SERVFAIL(2, false, false, false),
        REFUSED(5, false, false, false),
        FORMERR(1, false, false, false),
        /** NXDOMAIN, nothing in the authority section: a forwarder's guess, not the zone's word. */
        NXDOMAIN(3, false, false, false),
        /** NOERROR without records or SOA. */
        NODATA(0, false, false, false),
        /** NXDOMAIN with the zone's SOA: the authoritative negative answer. */
        NXDOMAIN_SOA(3, false, true, false),
        /** NOERROR, TC set, no records: the answer did not fit. */
        TRUNCATED(0, false, false, true),
        SILENT(0, false, false, false),
        /** An address, under the query's id, for a question whose first letter differs from the one asked. */
        OTHER_QUESTION(0, true, false, false);

        final int rcode;
        final boolean address;
        final boolean soa;
        final boolean truncated;

        Behaviour(int rcode, boolean address, boolean soa, boolean truncated) {
            this.rcode = rcode;
            this.address = address;
            this.soa = soa;
            this.truncated = truncated;
        }

        /** The answer to {@code q} (header and question echoed, EDNS left out). */
        byte[] answer(byte[] q, int n) {
            int questionEnd = 12;
            while (q[questionEnd] != 0) {
                questionEnd += q[questionEnd] + 1;
            }
            questionEnd += 5;
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            byte[] head = Arrays.copyOf(q, questionEnd);
            head[2] = (byte) (0x80 | (truncated ? 0x02 : 0) | (q[2] & 0x01));
            head[3] = (byte) (0x80 | rcode);
            head[7] = (byte) (address ? 1 : 0);
            head[9] = (byte) (soa ? 1 : 0);
            head[11] = 0;
            if (this == OTHER_QUESTION) {
                head[13] = (byte) (head[13] == 'x' ? 'y' : 'x');
            }
            b.writeBytes(head);
            if (address) {
                b.writeBytes(new byte[] {(byte) 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, (byte) 192, 0, 2, (byte) n});
            }
            if (soa) {
                // owner "org", type SOA, class IN, TTL 60; MNAME and RNAME the root, then five 32-bit numbers
                b.writeBytes(new byte[] {3, 'o', 'r', 'g', 0, 0, 6, 0, 1, 0, 0, 0, 60, 0, 22, 0, 0});
                b.writeBytes(new byte[] {0, 0, 0, 1, 0, 0, 0, 60, 0, 0, 0, 60, 0, 0, 0, 60, 0, 0, 0, 60});
            }
            return b.toByteArray();
        }
    }

    /** A resolver on loopback (UDP and TCP, one port) answering every query as its {@link Behaviour} says. */
    static final class ScriptedUpstream implements AutoCloseable {
        private final ServerSocket tcp;
        private final DatagramSocket udp;
        private final int n;
        private volatile Behaviour behaviour;
        private volatile long delayMillis;
        private final AtomicInteger udpQueries = new AtomicInteger();
        private final AtomicInteger tcpQueries = new AtomicInteger();
        private volatile boolean open = true;

        ScriptedUpstream(String ip, int n, Behaviour behaviour) throws IOException {
            this.n = n;
            this.behaviour = behaviour;
            tcp = new ServerSocket();
            tcp.bind(new InetSocketAddress(ip, 0));
            udp = new DatagramSocket(new InetSocketAddress(ip, tcp.getLocalPort()));
            Thread u = new Thread(this::serveUdp, "scripted-dns-udp");
            u.setDaemon(true);
            u.start();
            Thread t = new Thread(this::serveTcp, "scripted-dns-tcp");
            t.setDaemon(true);
            t.start();
        }

        InetSocketAddress address() {
            return (InetSocketAddress) tcp.getLocalSocketAddress();
        }

        /** From now on each answer waits this long before it is sent. */
        void delay(Duration d) {
            delayMillis = d.toMillis();
        }

        private void pause() {
            if (delayMillis > 0) {
                try {
                    Thread.sleep(delayMillis);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }

        /** From now on it answers as {@code b}. */
        void behave(Behaviour b) {
            behaviour = b;
        }

        int queries(String protocol) {
            return protocol.equals("udp") ? udpQueries.get() : tcpQueries.get();
        }

        private void serveUdp() {
            byte[] buf = new byte[4096];
            while (open) { // ends when the socket closes
                try {
                    DatagramPacket p = new DatagramPacket(buf, buf.length);
                    udp.receive(p);
                    udpQueries.incrementAndGet();
                    if (behaviour != Behaviour.SILENT) {
                        pause();
                        byte[] a = behaviour.answer(Arrays.copyOf(buf, p.getLength()), n);
                        udp.send(new DatagramPacket(a, a.length, p.getSocketAddress()));
                    }
                } catch (IOException e) {
                    return;
                }
            }
        }

        private void serveTcp() {
            while (open) { // ends when the socket closes
                try (Socket s = tcp.accept()) {
                    s.setSoTimeout(5000);
                    DataInputStream in = new DataInputStream(s.getInputStream());
                    byte[] q = new byte[in.readUnsignedShort()];
                    in.readFully(q);
                    tcpQueries.incrementAndGet();
                    if (behaviour == Behaviour.SILENT) {
                        in.read(); // until the forwarder gives up and closes (or the read times out)
                        continue;
                    }
                    pause();
                    byte[] a = behaviour.answer(q, n);
                    DataOutputStream out = new DataOutputStream(s.getOutputStream());
                    out.writeShort(a.length);
                    out.write(a);
                    out.flush();
                } catch (SocketTimeoutException e) {
                    // a client that sent nothing: next
                } catch (IOException e) {
                    if (!open) {
                        return;
                    }
                }
            }
        }

        @Override
        public void close() throws IOException {
            open = false;
            udp.close();
            tcp.close();
        }
    }
}
