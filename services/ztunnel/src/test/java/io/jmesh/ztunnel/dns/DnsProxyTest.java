package io.jmesh.ztunnel.dns;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.lifecycle.ServiceLauncher;
import io.jmesh.ztunnel.discovery.StaticConfigFile;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.jmesh.ztunnel.tunnel.NetTransport;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
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
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The DNS proxy on real sockets: Node's resolver (c-ares, an independent client) asks for mesh names, outside
 * names (forwarded to a real UDP/TCP server on loopback), a headless service too large for UDP (truncated, then
 * asked again over TCP), and from an address that is no workload of the node; raw sockets send malformed and
 * pipelined queries.
 */
class DnsProxyTest {

    static final String CLIENT_IP = "127.0.41.1";
    static final String STRANGER_IP = "127.0.41.99";
    static final String PROXY_IP = "127.0.41.53";
    static final String UPSTREAM_IP = "127.0.42.53";
    static final Path SCRIPT = Path.of("src/test/node/dns-client.mjs").toAbsolutePath();

    @TempDir
    static Path dir;

    static Vertx vertx;
    static WorkloadStore store = new WorkloadStore();
    static FakeUpstream upstream;
    static DatagramSocket silent;

    PrometheusRegistry registry;
    DnsProxy proxy;

    @BeforeAll
    static void mesh() throws Exception {
        vertx = ServiceLauncher.newVertx(2);
        StringBuilder yaml = new StringBuilder("""
                workloads:
                  - {uid: c, name: client, namespace: ns1, addresses: [%s], node: node-a, tunnelProtocol: HBONE,
                     canonicalName: client, canonicalRevision: v1}
                  - {uid: far, name: far, namespace: ns1, addresses: [127.0.41.2], node: node-b, tunnelProtocol: HBONE}
                """.formatted(CLIENT_IP));
        for (int i = 0; i < 60; i++) { // 60 A records: more than 512 bytes
            yaml.append("  - {uid: big-").append(i).append(", name: big-").append(i)
                    .append(", namespace: ns1, addresses: [10.1.0.").append(i + 1)
                    .append("], node: node-b, services: {\"ns1/big.ns1.svc.cluster.local\": {}}}\n");
        }
        yaml.append("""
                services:
                  - {name: reviews, namespace: ns1, hostname: reviews.ns1.svc.cluster.local,
                     addresses: [{address: 10.96.0.9}]}
                  - {name: big, namespace: ns1, hostname: big.ns1.svc.cluster.local}
                """);
        Path f = dir.resolve("mesh.yaml");
        Files.writeString(f, yaml);
        store.replaceAll(StaticConfigFile.read(f).addresses());
        upstream = new FakeUpstream(UPSTREAM_IP);
        silent = new DatagramSocket(new InetSocketAddress("127.0.42.54", 0));
    }

    @AfterAll
    static void down() throws Exception {
        upstream.close();
        silent.close();
        vertx.close().await(10, TimeUnit.SECONDS);
    }

    @AfterEach
    void stop() throws Exception {
        if (proxy != null) {
            proxy.close().await(5, TimeUnit.SECONDS);
        }
    }

    private DnsProxy start(Duration timeout, InetSocketAddress... upstreams) throws Exception {
        return start(Duration.ofSeconds(10), timeout, upstreams);
    }

    private DnsProxy start(Duration tcpIdle, Duration timeout, InetSocketAddress... upstreams) throws Exception {
        return start(150, tcpIdle, timeout, upstreams);
    }

    private DnsProxy start(int maxTcpConnections, Duration tcpIdle, Duration timeout, InetSocketAddress... upstreams)
            throws Exception {
        return start(maxTcpConnections, Integer.MAX_VALUE, tcpIdle, timeout, upstreams); // no per-client limit
    }

    private DnsProxy start(int maxTcpConnections, int perClient, Duration tcpIdle, Duration timeout,
            InetSocketAddress... upstreams) throws Exception {
        registry = new PrometheusRegistry();
        proxy = new DnsProxy(NetTransport.of(vertx), store, new DnsProxy.Settings("node-a",
                InetAddress.getByName(PROXY_IP), 0, "cluster.local", tcpIdle, List.of(upstreams),
                timeout, 2, 2, 64, maxTcpConnections, perClient), registry);
        proxy.start().await(10, TimeUnit.SECONDS);
        return proxy;
    }

    @Test
    void meshNamesAreAnsweredHereAndOtherNamesForwarded() throws Exception {
        start(Duration.ofSeconds(2), upstream.address());
        Map<String, JsonObject> r = node(CLIENT_IP, "A reviews", "A reviews.ns1", "A reviews.ns1.svc.cluster.local",
                "AAAA reviews", "A example.org", "A nx.example.org");
        assertThat(r.get("A reviews").getJsonArray("answers").getList()).containsExactly("10.96.0.9");
        assertThat(r.get("A reviews.ns1").getJsonArray("answers").getList()).containsExactly("10.96.0.9");
        assertThat(r.get("A reviews.ns1.svc.cluster.local").getJsonArray("answers").getList())
                .containsExactly("10.96.0.9");
        // the name exists but has no IPv6 address: NOERROR without records
        assertThat(r.get("AAAA reviews").getString("code")).isEqualTo("ENODATA");
        assertThat(r.get("A example.org").getJsonArray("answers").getList()).containsExactly("192.0.2.7");
        assertThat(r.get("A nx.example.org").getString("code")).isEqualTo("ENOTFOUND");
        assertThat(upstream.udpQueries).hasSizeGreaterThanOrEqualTo(2);
        assertThat(upstream.udpQueries).noneMatch(q -> q.contains("reviews"));
        assertThat(metric("istio_dns_requests_total{request_query_type=\"a\",request_protocol=\"udp\","
                + "source_canonical_service=\"client\",source_canonical_revision=\"v1\"}")).isEqualTo(5);
        assertThat(metric("istio_dns_upstream_requests_total{request_query_type=\"a\",request_protocol=\"udp\","
                + "source_canonical_service=\"client\",source_canonical_revision=\"v1\"}")).isEqualTo(2);
        assertThat(metric("istio_dns_upstream_request_duration_seconds_count{request_query_type=\"a\","
                + "request_protocol=\"udp\",source_canonical_service=\"client\",source_canonical_revision=\"v1\"}"))
                .isEqualTo(2);
    }

    @Test
    void anAnswerTooLargeForUdpIsTruncatedAndComesWholeOverTcp() throws Exception {
        start(Duration.ofSeconds(2), upstream.address());
        // raw UDP first: the TC bit and as many records as fit
        byte[] answer = udp(CLIENT_IP, query(0x1234, "big.ns1.svc.cluster.local", 1));
        assertThat(answer.length).isLessThanOrEqualTo(512);
        assertThat(answer[2] & 0x02).as("TC").isNotZero();
        assertThat(answer[2] & 0x04).as("AA").isNotZero();
        // c-ares then asks again over TCP and gets all 60
        JsonObject r = node(CLIENT_IP, "A big").get("A big");
        assertThat(r.getJsonArray("answers").getList()).hasSize(60);
        assertThat(metric("istio_dns_requests_total{request_query_type=\"a\",request_protocol=\"tcp\","
                + "source_canonical_service=\"client\",source_canonical_revision=\"v1\"}")).isEqualTo(1);
    }

    @Test
    void clientsThatAreNoWorkloadOfThisNodeGetServfail() throws Exception {
        start(Duration.ofSeconds(2), upstream.address());
        assertThat(node(STRANGER_IP, "A reviews").get("A reviews").getString("code")).isEqualTo("ESERVFAIL");
        // a workload of another node is no better: this proxy is not an open resolver
        assertThat(node("127.0.41.2", "A example.org").get("A example.org").getString("code"))
                .isEqualTo("ESERVFAIL");
        assertThat(upstream.udpQueries).noneMatch(q -> q.contains("example.org") && q.startsWith("127.0.41.2"));
        assertThat(metric("ztunnel_dns_rejections_total{protocol=\"udp\",reason=\"unknown_source\"}")).isEqualTo(2);
    }

    @Test
    void malformedQueriesAreCountedAndRefusedWithoutDisturbingOthers() throws Exception {
        start(Duration.ofSeconds(2), upstream.address());
        try (DatagramSocket s = new DatagramSocket(new InetSocketAddress(CLIENT_IP, 0))) {
            s.setSoTimeout(400);
            send(s, new byte[] {1, 2, 3});
            assertThat(receive(s)).as("too short for a header: dropped").isNull();
            byte[] response = query(7, "reviews", 1);
            response[2] |= (byte) 0x80;
            send(s, response);
            assertThat(receive(s)).as("a response sent to us: dropped").isNull();
            byte[] twoQuestions = query(8, "reviews", 1);
            twoQuestions[5] = 2;
            send(s, twoQuestions);
            byte[] formerr = receive(s);
            assertThat(formerr[0] << 8 | formerr[1] & 0xFF).isEqualTo(8);
            assertThat(formerr[3] & 0x0F).as("RCODE").isEqualTo(1);
            byte[] cut = Arrays.copyOf(query(9, "reviews.ns1", 1), 16); // the name runs past the end
            send(s, cut);
            assertThat(receive(s)[3] & 0x0F).isEqualTo(1);
            byte[] pointer = query(10, "reviews", 1);
            pointer[12] = (byte) 0xC0;
            send(s, pointer);
            assertThat(receive(s)[3] & 0x0F).isEqualTo(1);
            // the socket still serves
            send(s, query(11, "reviews", 1));
            byte[] ok = receive(s);
            assertThat(ok[3] & 0x0F).isZero();
            assertThat(ok[7]).as("ANCOUNT").isEqualTo((byte) 1);
        }
        assertThat(metric("ztunnel_dns_rejections_total{protocol=\"udp\",reason=\"too_short\"}")).isEqualTo(1);
        assertThat(metric("ztunnel_dns_rejections_total{protocol=\"udp\",reason=\"not_a_query\"}")).isEqualTo(1);
        assertThat(metric("ztunnel_dns_rejections_total{protocol=\"udp\",reason=\"question_count\"}")).isEqualTo(1);
        assertThat(metric("ztunnel_dns_rejections_total{protocol=\"udp\",reason=\"bad_question\"}")).isEqualTo(2);
    }

    @Test
    void tcpCarriesPipelinedQueriesAndForwardsOverTcp() throws Exception {
        start(Duration.ofSeconds(2), upstream.address());
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(CLIENT_IP, 0));
            s.connect(proxy.address(), 2000);
            s.setSoTimeout(5000);
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            for (byte[] q : List.of(query(21, "reviews", 1), query(22, "example.org", 1), new byte[] {0, 1, 2})) {
                out.writeShort(q.length);
                out.write(q);
            }
            out.flush();
            DataInputStream in = new DataInputStream(s.getInputStream());
            List<Integer> ids = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                byte[] a = new byte[in.readUnsignedShort()];
                in.readFully(a);
                assertThat(a[3] & 0x0F).isZero();
                ids.add((a[0] & 0xFF) << 8 | a[1] & 0xFF);
            }
            assertThat(ids).containsExactlyInAnyOrder(21, 22);
        }
        assertThat(upstream.tcpQueries).anyMatch(q -> q.contains("example.org"));
        assertThat(metric("ztunnel_dns_rejections_total{protocol=\"tcp\",reason=\"too_short\"}")).isEqualTo(1);
    }

    @Test
    void tcpMessagesDroppedWithoutAnswerDoNotPauseTheConnection() throws Exception {
        start(Duration.ofSeconds(2), upstream.address());
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(CLIENT_IP, 0));
            s.connect(proxy.address(), 2000);
            s.setSoTimeout(5000);
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            // more unanswerable messages than a connection may have waiting (16): too short, and responses
            byte[] response = query(31, "reviews", 1);
            response[2] |= (byte) 0x80;
            for (int i = 0; i < 16; i++) {
                frame(out, new byte[5]);
                frame(out, response);
            }
            out.flush();
            // all read and dropped, so the query below comes in a read of its own (it used to never be read)
            await().until(() -> metric("ztunnel_dns_rejections_total{protocol=\"tcp\",reason=\"too_short\"}") == 16
                    && metric("ztunnel_dns_rejections_total{protocol=\"tcp\",reason=\"not_a_query\"}") == 16);
            frame(out, query(32, "reviews", 1));
            out.flush();
            DataInputStream in = new DataInputStream(s.getInputStream());
            byte[] a = new byte[in.readUnsignedShort()];
            in.readFully(a);
            assertThat((a[0] & 0xFF) << 8 | a[1] & 0xFF).isEqualTo(32);
            assertThat(a[3] & 0x0F).isZero();
        }
    }

    @Test
    void aTcpClientPipeliningManyQueriesInOneWriteHasNoMoreThan16AwaitingUpstream() throws Exception {
        try (HoldingUpstream held = new HoldingUpstream("127.0.42.55")) {
            start(Duration.ofSeconds(10), held.address());
            int sent = 40;
            ByteArrayOutputStream all = new ByteArrayOutputStream();
            DataOutputStream frames = new DataOutputStream(all);
            for (int i = 0; i < sent; i++) {
                frame(frames, query(100 + i, "q" + i + ".example.org", 1));
            }
            try (Socket s = new Socket()) {
                s.bind(new InetSocketAddress(CLIENT_IP, 0));
                s.connect(proxy.address(), 2000);
                s.setSoTimeout(10_000);
                s.getOutputStream().write(all.toByteArray()); // one write, read by the proxy in one read
                await().atMost(Duration.ofSeconds(10)).until(() -> held.connections() >= 16);
                assertThat(metric("istio_dns_requests_total{request_query_type=\"a\",request_protocol=\"tcp\","
                        + "source_canonical_service=\"client\",source_canonical_revision=\"v1\"}"))
                        .as("queries taken from the connection while 16 await upstream").isEqualTo(16);
                held.release();
                DataInputStream in = new DataInputStream(s.getInputStream());
                List<Integer> ids = new ArrayList<>();
                for (int i = 0; i < sent; i++) {
                    byte[] a = new byte[in.readUnsignedShort()];
                    in.readFully(a);
                    assertThat(a[3] & 0x0F).as("RCODE").isZero();
                    ids.add((a[0] & 0xFF) << 8 | a[1] & 0xFF);
                }
                assertThat(ids).as("every pipelined query answered, once")
                        .containsExactlyInAnyOrderElementsOf(java.util.stream.IntStream.range(100, 100 + sent)
                                .boxed().toList());
            }
        }
    }

    @Test
    void tcpConnectionsBeyondTheLimitAreClosedAndCountedWhileTheOthersAreServed() throws Exception {
        start(4, Duration.ofSeconds(30), Duration.ofSeconds(2), upstream.address());
        List<Socket> open = new ArrayList<>();
        try {
            for (int i = 0; i < 4; i++) {
                open.add(tcpClient());
                assertThat(askOverTcp(open.get(i), 50 + i)).as("connection " + i + " served").isEqualTo(50 + i);
            }
            try (Socket fifth = tcpClient()) {
                assertThat(closedByPeer(fifth)).as("a fifth connection closed by the proxy").isTrue();
            }
            assertThat(metric("ztunnel_dns_rejections_total{protocol=\"tcp\",reason=\"connection_limit\"}"))
                    .isEqualTo(1);
            // one client leaving makes room for another (once the proxy has seen it go)
            open.remove(0).close();
            await().atMost(Duration.ofSeconds(10)).until(() -> {
                try (Socket s = tcpClient()) {
                    return askOverTcp(s, 60) == 60;
                } catch (IOException e) {
                    return false;
                }
            });
            for (int i = 0; i < open.size(); i++) {
                assertThat(askOverTcp(open.get(i), 70 + i)).as("an open connection still served").isEqualTo(70 + i);
            }
        } finally {
            for (Socket s : open) {
                s.close();
            }
        }
    }

    /**
     * On a node's listener every pod is a client: one that holds its share of connections is refused more, while
     * another client still gets a connection (before, the first could take all of them).
     */
    @Test
    void oneClientCannotTakeEveryTcpConnection() throws Exception {
        start(8, 3, Duration.ofSeconds(30), Duration.ofSeconds(2), upstream.address());
        List<Socket> open = new ArrayList<>();
        try {
            for (int i = 0; i < 3; i++) {
                open.add(tcpClient());
                assertThat(askOverTcp(open.get(i), 90 + i)).as("connection " + i + " served").isEqualTo(90 + i);
            }
            try (Socket fourth = tcpClient()) {
                assertThat(closedByPeer(fourth)).as("a fourth connection of the same client closed").isTrue();
            }
            assertThat(metric("ztunnel_dns_rejections_total{protocol=\"tcp\",reason=\"client_connection_limit\"}"))
                    .isEqualTo(1);
            try (Socket other = tcpClient(STRANGER_IP)) {
                // no workload of this node: answered SERVFAIL, but over a connection of its own
                assertThat(askOverTcp(other, 99)).as("another client still answered").isEqualTo(99);
            }
            open.remove(0).close();
            await().atMost(Duration.ofSeconds(10)).alias("the client's connection again, once one of its own closed")
                    .until(() -> {
                        try (Socket s = tcpClient()) {
                            return askOverTcp(s, 98) == 98;
                        } catch (IOException e) {
                            return false;
                        }
                    });
        } finally {
            for (Socket s : open) {
                s.close();
            }
        }
    }

    @Test
    void aTcpClientThatShutsItsSideGetsItsAnswersAndThenTheConnectionCloses() throws Exception {
        // idle timeout far away: the close must come from the client's FIN, not from the timer
        start(Duration.ofSeconds(30), Duration.ofSeconds(2), upstream.address());
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(CLIENT_IP, 0));
            s.connect(proxy.address(), 2000);
            s.setSoTimeout(5000);
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            frame(out, query(81, "reviews", 1));
            frame(out, query(82, "example.org", 1));
            out.flush();
            s.shutdownOutput(); // RFC 7766: the client will send no more
            DataInputStream in = new DataInputStream(s.getInputStream());
            List<Integer> ids = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                byte[] a = new byte[in.readUnsignedShort()];
                in.readFully(a);
                ids.add((a[0] & 0xFF) << 8 | a[1] & 0xFF);
            }
            assertThat(ids).as("both answered after the client's FIN").containsExactlyInAnyOrder(81, 82);
            int next;
            try {
                next = in.read();
            } catch (SocketTimeoutException e) {
                next = -2;
            }
            assertThat(next).as("closed by the proxy once its answers are sent (-1), not left open (-2)")
                    .isEqualTo(-1);
        }
    }

    @Test
    void aSilentUpstreamIsFollowedByTheNextAndNoneAnsweringIsServfail() throws Exception {
        InetSocketAddress quiet = (InetSocketAddress) silent.getLocalSocketAddress();
        start(Duration.ofMillis(300), quiet, upstream.address());
        assertThat(node(CLIENT_IP, "A example.org").get("A example.org").getJsonArray("answers").getList())
                .containsExactly("192.0.2.7");
        proxy.close().await(5, TimeUnit.SECONDS);
        start(Duration.ofMillis(300), quiet);
        assertThat(node(CLIENT_IP, "A example.org").get("A example.org").getString("code")).isEqualTo("ESERVFAIL");
        assertThat(metric("istio_dns_upstream_failures_total{request_query_type=\"a\",request_protocol=\"udp\","
                + "source_canonical_service=\"client\",source_canonical_revision=\"v1\"}")).isEqualTo(1);
    }

    @Test
    void aTcpClientDribblingOneMessageIsClosedThoughBytesKeepComing() throws Exception {
        // one byte every quarter of the idle timeout: the connection is never quiet, but no message ever completes
        start(Duration.ofSeconds(1), Duration.ofSeconds(2), upstream.address());
        byte[] q = query(41, "reviews", 1);
        byte[] framed = java.nio.ByteBuffer.allocate(2 + q.length).putShort((short) q.length).put(q).array();
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(CLIENT_IP, 0));
            s.connect(proxy.address(), 2000);
            s.setSoTimeout(5000);
            boolean closed = false;
            for (byte b : framed) {
                try {
                    s.getOutputStream().write(b);
                    s.getOutputStream().flush();
                } catch (IOException e) {
                    closed = true;
                    break;
                }
                Thread.sleep(250);
            }
            if (!closed) {
                try {
                    closed = s.getInputStream().read() < 0;
                } catch (IOException e) {
                    closed = true;
                }
            }
            assertThat(closed).as("closed before the dribbled message completed").isTrue();
        }
        assertThat(metric("ztunnel_dns_rejections_total{protocol=\"tcp\",reason=\"timeout\"}")).isEqualTo(1);
    }

    @Test
    void aTcpClientThatDoesNotReadItsAnswersStopsBeingRead() throws Exception {
        start(Duration.ofSeconds(30), Duration.ofSeconds(2), upstream.address());
        int sent = 30_000; // each answer (60 records over TCP) ~1 KB: 30 MB if nothing pushed back
        try (Socket s = new Socket()) {
            s.setReceiveBufferSize(4096);
            s.bind(new InetSocketAddress(CLIENT_IP, 0));
            s.connect(proxy.address(), 2000);
            s.setSoTimeout(20_000);
            DataOutputStream out = new DataOutputStream(new java.io.BufferedOutputStream(s.getOutputStream()));
            Thread writer = new Thread(() -> {
                try {
                    for (int i = 0; i < sent; i++) {
                        frame(out, query(i, "big.ns1.svc.cluster.local", 1));
                    }
                    out.flush();
                } catch (IOException e) {
                    // the test ends by closing the socket
                }
            }, "dns-test-writer");
            writer.setDaemon(true);
            writer.start();
            // the proxy reads until its unread answers fill the buffers, then stops: the count settles well short
            String tcpRequests = "istio_dns_requests_total{request_query_type=\"a\",request_protocol=\"tcp\","
                    + "source_canonical_service=\"client\",source_canonical_revision=\"v1\"}";
            double[] last = {-1};
            await().pollInterval(Duration.ofMillis(500)).atMost(Duration.ofSeconds(60)).until(() -> {
                double now = metric(tcpRequests);
                boolean settled = now == last[0] || now >= sent;
                last[0] = now;
                return settled;
            });
            assertThat(last[0]).as("queries read while no answer was read").isLessThan(sent);
            // reading again, every answer comes, in full
            DataInputStream in = new DataInputStream(s.getInputStream());
            for (int i = 0; i < sent; i++) {
                byte[] a = new byte[in.readUnsignedShort()];
                in.readFully(a);
                assertThat(a[7]).as("ANCOUNT").isEqualTo((byte) 60);
            }
        }
    }

    @Test
    void anEdnsClientGetsAsLargeAUdpAnswerAsItAdvertisesWithAnOptRecord() throws Exception {
        start(Duration.ofSeconds(2), upstream.address());
        // EDNS, 1,232 bytes (the DNS flag day size): 60 A records (~1,050 bytes) fit, as Istio answers them
        byte[] q = query(0x5151, "big.ns1.svc.cluster.local", 1);
        q[11] = 1; // ARCOUNT: the OPT record
        q = java.nio.ByteBuffer.allocate(q.length + 11).put(q)
                .put(new byte[] {0, 0, 41, 0x04, (byte) 0xD0, 0, 0, 0, 0, 0, 0}).array();
        byte[] answer = udp(CLIENT_IP, q);
        assertThat(answer[2] & 0x02).as("TC").isZero();
        assertThat((answer[6] & 0xFF) << 8 | answer[7] & 0xFF).as("ANCOUNT").isEqualTo(60);
        assertThat(answer.length).isLessThanOrEqualTo(1232);
        // the answer's own OPT record, last: root name, type 41
        assertThat(answer[11]).as("ARCOUNT").isEqualTo((byte) 1);
        assertThat(Arrays.copyOfRange(answer, answer.length - 11, answer.length - 8)).containsExactly(0, 0, 41);
    }

    @Test
    void anEdnsVersionAboveZeroIsAnsweredBadversWithAVersionZeroOptRecord() throws Exception {
        start(Duration.ofSeconds(2), upstream.address());
        for (String name : List.of("reviews", "other.example.org")) {
            byte[] q = query(0x6161, name, 1);
            q[11] = 1; // ARCOUNT: the OPT record, EDNS version 1, 1,232 bytes
            q = java.nio.ByteBuffer.allocate(q.length + 11).put(q)
                    .put(new byte[] {0, 0, 41, 0x04, (byte) 0xD0, 0, 1, 0, 0, 0, 0}).array();
            byte[] answer = udp(CLIENT_IP, q);
            assertThat(answer[3] & 0x0F).as(name + ": RCODE's lower bits").isZero();
            assertThat(answer[7]).as(name + ": ANCOUNT").isZero();
            assertThat(answer[11]).as(name + ": ARCOUNT").isEqualTo((byte) 1);
            byte[] opt = Arrays.copyOfRange(answer, answer.length - 11, answer.length);
            assertThat(Arrays.copyOfRange(opt, 0, 3)).as(name + ": an OPT record, last").containsExactly(0, 0, 41);
            assertThat(opt[5]).as(name + ": extended RCODE (BADVERS = 16 = 1 << 4)").isEqualTo((byte) 1);
            assertThat(opt[6]).as(name + ": the version we speak").isZero();
        }
        assertThat(upstream.udpQueries).noneMatch(q -> q.contains("other.example.org"));
        assertThat(metric("ztunnel_dns_rejections_total{protocol=\"udp\",reason=\"edns_version\"}")).isEqualTo(2);
    }

    @Test
    void aLargeUpstreamAnswerOverUdpIsRelayedWhole() throws Exception {
        start(Duration.ofSeconds(2), upstream.address());
        // TXT with EDNS (4,096 bytes): the upstream answers 3,000-odd bytes in one datagram
        byte[] q = query(0x4242, "large.example.org", 16);
        q[11] = 1; // ARCOUNT: the OPT record
        q = java.nio.ByteBuffer.allocate(q.length + 11).put(q)
                .put(new byte[] {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0}).array();
        byte[] answer = udp(CLIENT_IP, q);
        assertThat(answer).isNotNull();
        assertThat(answer.length).isEqualTo(FakeUpstream.answer(q).length);
        assertThat(answer[7]).as("ANCOUNT").isEqualTo((byte) FakeUpstream.LARGE_RECORDS);
    }

    // ---- helpers ----

    private Map<String, JsonObject> node(String local, String... queries) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("node", SCRIPT.toString(),
                PROXY_IP + ":" + proxy.address().getPort(), local));
        cmd.addAll(List.of(queries));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return out.lines().filter(l -> l.startsWith("{")).map(JsonObject::new)
                .collect(Collectors.toMap(j -> j.getString("q"), j -> j));
    }

    private byte[] udp(String local, byte[] q) throws IOException {
        try (DatagramSocket s = new DatagramSocket(new InetSocketAddress(local, 0))) {
            s.setSoTimeout(3000);
            send(s, q);
            return receive(s);
        }
    }

    private Socket tcpClient() throws IOException {
        return tcpClient(CLIENT_IP);
    }

    private Socket tcpClient(String from) throws IOException {
        Socket s = new Socket();
        s.bind(new InetSocketAddress(from, 0));
        s.connect(proxy.address(), 2000);
        s.setSoTimeout(5000);
        return s;
    }

    /** Asks for {@code reviews} with {@code id} on {@code s}; the id of the answer. */
    private static int askOverTcp(Socket s, int id) throws IOException {
        DataOutputStream out = new DataOutputStream(s.getOutputStream());
        frame(out, query(id, "reviews", 1));
        out.flush();
        DataInputStream in = new DataInputStream(s.getInputStream());
        byte[] a = new byte[in.readUnsignedShort()];
        in.readFully(a);
        return (a[0] & 0xFF) << 8 | a[1] & 0xFF;
    }

    /** True once the peer closes or resets {@code s}; false when it stays open for the socket's read timeout. */
    private static boolean closedByPeer(Socket s) throws IOException {
        try {
            return s.getInputStream().read() < 0;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (java.net.SocketException reset) {
            return true;
        }
    }

    private static void frame(DataOutputStream out, byte[] msg) throws IOException {
        out.writeShort(msg.length);
        out.write(msg);
    }

    private void send(DatagramSocket s, byte[] msg) throws IOException {
        s.send(new DatagramPacket(msg, msg.length, proxy.address()));
    }

    private static byte[] receive(DatagramSocket s) throws IOException {
        byte[] buf = new byte[4096];
        DatagramPacket p = new DatagramPacket(buf, buf.length);
        try {
            s.receive(p);
        } catch (SocketTimeoutException e) {
            return null;
        }
        return Arrays.copyOf(buf, p.getLength());
    }

    /** A standard query (RD set) for {@code name}, type {@code type}, class IN. */
    static byte[] query(int id, String name, int type) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(new byte[] {(byte) (id >> 8), (byte) id, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0});
        for (String label : name.split("\\.")) {
            b.write(label.length());
            b.writeBytes(label.getBytes(StandardCharsets.US_ASCII));
        }
        b.writeBytes(new byte[] {0, 0, (byte) type, 0, 1});
        return b.toByteArray();
    }

    private double metric(String series) {
        return io.jmesh.ztunnel.testing.SeriesValue.of(registry, series);
    }

    /**
     * A TCP resolver on loopback that holds every query unanswered until {@link #release()}, then answers them (and
     * any later one) as {@link FakeUpstream} does: shows how many queries await upstream at once.
     */
    static final class HoldingUpstream implements AutoCloseable {
        private final ServerSocket tcp;
        private final List<Socket> held = new ArrayList<>();
        private final AtomicInteger accepted = new AtomicInteger();
        private boolean released;

        HoldingUpstream(String ip) throws IOException {
            tcp = new ServerSocket();
            tcp.bind(new InetSocketAddress(ip, 0));
            Thread t = new Thread(this::serve, "holding-dns-tcp");
            t.setDaemon(true);
            t.start();
        }

        InetSocketAddress address() {
            return (InetSocketAddress) tcp.getLocalSocketAddress();
        }

        int connections() {
            return accepted.get();
        }

        synchronized void release() throws IOException {
            released = true;
            for (Socket s : held) {
                answer(s);
            }
            held.clear();
        }

        private void serve() {
            while (!tcp.isClosed()) { // ends when the socket closes
                try {
                    Socket s = tcp.accept();
                    accepted.incrementAndGet();
                    synchronized (this) {
                        if (released) {
                            answer(s);
                        } else {
                            held.add(s);
                        }
                    }
                } catch (IOException e) {
                    return;
                }
            }
        }

        private static void answer(Socket s) throws IOException {
            try (s) {
                s.setSoTimeout(5000);
                DataInputStream in = new DataInputStream(s.getInputStream());
                byte[] q = new byte[in.readUnsignedShort()];
                in.readFully(q);
                byte[] a = FakeUpstream.answer(q);
                DataOutputStream out = new DataOutputStream(s.getOutputStream());
                out.writeShort(a.length);
                out.write(a);
                out.flush();
            }
        }

        @Override
        public synchronized void close() throws IOException {
            tcp.close();
            for (Socket s : held) {
                s.close();
            }
        }
    }

    /**
     * A resolver on loopback (UDP and TCP, one port): every A question is answered 192.0.2.7, names starting with
     * {@code nx.} NXDOMAIN. Records what it was asked, as {@code "<client ip> <name>"}.
     */
    static final class FakeUpstream implements AutoCloseable {
        final List<String> udpQueries = new java.util.concurrent.CopyOnWriteArrayList<>();
        final List<String> tcpQueries = new java.util.concurrent.CopyOnWriteArrayList<>();
        private final ServerSocket tcp;
        private final DatagramSocket udp;
        private volatile boolean open = true;

        FakeUpstream(String ip) throws IOException {
            tcp = new ServerSocket();
            tcp.bind(new InetSocketAddress(ip, 0));
            udp = new DatagramSocket(new InetSocketAddress(ip, tcp.getLocalPort()));
            Thread u = new Thread(this::serveUdp, "fake-dns-udp");
            u.setDaemon(true);
            u.start();
            Thread t = new Thread(this::serveTcp, "fake-dns-tcp");
            t.setDaemon(true);
            t.start();
        }

        InetSocketAddress address() {
            return (InetSocketAddress) tcp.getLocalSocketAddress();
        }

        private void serveUdp() {
            byte[] buf = new byte[4096];
            while (open) { // ends when the socket closes
                try {
                    DatagramPacket p = new DatagramPacket(buf, buf.length);
                    udp.receive(p);
                    byte[] q = Arrays.copyOf(buf, p.getLength());
                    udpQueries.add(p.getAddress().getHostAddress() + " " + name(q));
                    byte[] a = answer(q);
                    udp.send(new DatagramPacket(a, a.length, p.getSocketAddress()));
                } catch (IOException e) {
                    return;
                }
            }
        }

        private void serveTcp() {
            while (open) {
                try (Socket s = tcp.accept()) {
                    s.setSoTimeout(5000);
                    DataInputStream in = new DataInputStream(s.getInputStream());
                    byte[] q = new byte[in.readUnsignedShort()];
                    in.readFully(q);
                    tcpQueries.add(s.getInetAddress().getHostAddress() + " " + name(q));
                    byte[] a = answer(q);
                    DataOutputStream out = new DataOutputStream(s.getOutputStream());
                    out.writeShort(a.length);
                    out.write(a);
                    out.flush();
                } catch (IOException e) {
                    if (!open) {
                        return;
                    }
                }
            }
        }

        private static String name(byte[] q) {
            StringBuilder n = new StringBuilder();
            int at = 12;
            while (at < q.length && q[at] != 0) {
                int len = q[at];
                n.append(n.length() == 0 ? "" : ".").append(new String(q, at + 1, len, StandardCharsets.US_ASCII));
                at += len + 1;
            }
            return n.toString();
        }

        /** TXT records of 250 bytes answering {@code large.example.org}: 3,000-odd bytes in all. */
        static final int LARGE_RECORDS = 12;

        static byte[] answer(byte[] q) {
            int questionEnd = 12;
            while (q[questionEnd] != 0) {
                questionEnd += q[questionEnd] + 1;
            }
            questionEnd += 5;
            if (name(q).equals("large.example.org")) {
                ByteArrayOutputStream b = new ByteArrayOutputStream();
                byte[] head = Arrays.copyOf(q, questionEnd);
                head[2] = (byte) (0x80 | (q[2] & 0x01));
                head[3] = (byte) 0x80;
                head[7] = LARGE_RECORDS;
                head[9] = 0;
                head[11] = 0;
                b.writeBytes(head);
                for (int i = 0; i < LARGE_RECORDS; i++) {
                    b.writeBytes(new byte[] {(byte) 0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0, (byte) 250, (byte) 249});
                    b.writeBytes(new byte[249]);
                }
                return b.toByteArray();
            }
            boolean nx = name(q).startsWith("nx.");
            boolean a = q[questionEnd - 3] == 1 && q[questionEnd - 4] == 0;
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            b.writeBytes(Arrays.copyOf(q, questionEnd)); // header and question; EDNS left out
            byte[] out = b.toByteArray();
            out[2] = (byte) (0x80 | (q[2] & 0x01));
            out[3] = (byte) (0x80 | (nx ? 3 : 0));
            out[7] = 0;
            out[9] = 0;
            out[11] = 0;
            if (!nx && a) {
                out[7] = 1;
                b.reset();
                b.writeBytes(out);
                b.writeBytes(new byte[] {(byte) 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, (byte) 192, 0, 2, 7});
                out = b.toByteArray();
            }
            return out;
        }

        @Override
        public void close() throws IOException {
            open = false;
            udp.close();
            tcp.close();
        }
    }
}
