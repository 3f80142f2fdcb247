package io.jmesh.ztunnel.inbound;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.jmesh.ztunnel.ZtunnelBootstrap;
import io.jmesh.ztunnel.authz.Authorizer;
import io.jmesh.ztunnel.authz.Decision;
import io.jmesh.ztunnel.testing.EchoServer;
import io.jmesh.ztunnel.testing.RawHboneClient;
import io.jmesh.ztunnel.testing.RawHboneClient.Answer;
import io.jmesh.ztunnel.testing.Socks5Client;
import io.jmesh.ztunnel.testing.TestCa;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http2.DefaultHttp2FrameWriter;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.vertx.core.Vertx;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * What the inbound HBONE listener answers to bad or hostile input, each with the right status, a counted reason
 * and one log line: Istio's 400/401/503 rules, oversized headers (431, or GOAWAY far over the limit), HTTP/2 errors
 * on one stream (that stream reset, its neighbours unharmed), missing, foreign-CA and foreign-trust-domain client
 * certificates, and SOCKS5 garbage on the outbound side.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class InboundBadInputTest {

    static final String ECHO_IP = "127.0.30.11";
    /** Echo's other address, never dialled here: an authority naming it is not the address the client dialled. */
    static final String ECHO_IP6 = "fd00::30:11";
    static final String REMOTE_IP = "127.0.40.11";
    static final String CLIENT_IP = "127.0.30.12";
    static final String TD = "cluster.local";

    @TempDir
    static Path dir;
    static Vertx vertx;
    static TestCa ca;
    static int echoPort;
    static ZtunnelHarness node;
    static RawHboneClient trusted;
    static RawHboneClient denied;
    static InetSocketAddress hbone;
    static final java.util.concurrent.atomic.AtomicBoolean lateDeny = new java.util.concurrent.atomic.AtomicBoolean();

    @BeforeAll
    static void start() throws Exception {
        vertx = Vertx.vertx();
        ca = new TestCa(vertx, "tok");
        int caPort = ca.start().toCompletionStage().toCompletableFuture().get();
        echoPort = new EchoServer(vertx).start(ECHO_IP).toCompletionStage().toCompletableFuture().get();
        Path token = dir.resolve("token");
        Files.writeString(token, "tok");
        Path mesh = dir.resolve("mesh.yaml");
        Files.writeString(mesh, """
                workloads:
                  - {uid: echo, name: echo, namespace: default, serviceAccount: echo, addresses: [%s, "%s"],
                     node: node-c,
                     tunnelProtocol: HBONE,
                     services: {"default/echo.default.svc.cluster.local": {ports: [{servicePort: 80, targetPort: %d}]},
                                "default/named.default.svc.cluster.local": {ports: []},
                                "default/a.example.com": {ports: []}, "default/b.example.com": {ports: []},
                                "default/c.example.com": {ports: []}}}
                  - {uid: client, name: client, namespace: default, serviceAccount: client, addresses: [%s],
                     node: node-c, tunnelProtocol: HBONE}
                  - {uid: remote, name: remote, namespace: default, serviceAccount: remote, addresses: [%s],
                     node: node-d, tunnelProtocol: HBONE}
                services:
                  - {name: echo, namespace: default, hostname: echo.default.svc.cluster.local,
                     addresses: [{address: 10.96.0.30}], ports: [{servicePort: 80, targetPort: %d}]}
                  - {name: other, namespace: default, hostname: other.default.svc.cluster.local,
                     addresses: [{address: 10.96.0.31}], ports: [{servicePort: 80, targetPort: 8080}]}
                  - {name: named, namespace: default, hostname: named.default.svc.cluster.local,
                     addresses: [{address: 10.96.0.32}], ports: [{servicePort: %7$d}]}
                  # one hostname, a service entry in two namespaces each: echo is an endpoint of default's only
                  - {name: a, namespace: aaa, hostname: a.example.com, ports: [{servicePort: 80, targetPort: 1}]}
                  - {name: a, namespace: default, hostname: a.example.com, ports: [{servicePort: 80, targetPort: %7$d}]}
                  - {name: b, namespace: default, hostname: b.example.com, ports: [{servicePort: 80, targetPort: %7$d}]}
                  - {name: b, namespace: zzz, hostname: b.example.com, ports: [{servicePort: 80, targetPort: 1}]}
                  - {name: c, namespace: mmm, hostname: c.example.com, ports: [{servicePort: 80, targetPort: 1}]}
                  - {name: c, namespace: default, hostname: c.example.com, ports: [{servicePort: 80, targetPort: %7$d}]}
                """.formatted(ECHO_IP, ECHO_IP6, echoPort, CLIENT_IP, REMOTE_IP, echoPort, echoPort));
        Authorizer denyDenied = facts -> facts.hasIdentity() && (facts.sourceIdentity().serviceAccount().equals("denied")
                || lateDeny.get() && facts.sourceIdentity().serviceAccount().equals("client"))
                ? Decision.deny("default/deny-denied", "denied by deny policy") : Decision.ALLOW_ALL;
        node = ZtunnelHarness.start(dir, "node-c", ZtunnelHarness.localNode("node-c", "127.0.30.1", mesh.toString(),
                caPort, token, null), new ZtunnelBootstrap.Collaborators(null, denyDenied, null, null, null));
        await().atMost(Duration.ofSeconds(20)).until(node::ready);
        var good = ca.leaf(Duration.ofHours(1), "spiffe://" + TD + "/ns/default/sa/client");
        trusted = new RawHboneClient(good.keys().getPrivate(), good.cert());
        var bad = ca.leaf(Duration.ofHours(1), "spiffe://" + TD + "/ns/default/sa/denied");
        denied = new RawHboneClient(bad.keys().getPrivate(), bad.cert());
        hbone = new InetSocketAddress(ECHO_IP, 15008);
    }

    @AfterAll
    static void stop() throws Exception {
        trusted.close();
        denied.close();
        node.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    double rejections(String reason) {
        return node.ztunnel.telemetry().rejections(false, reason);
    }

    @Test
    void aWellFormedConnectIsAnsweredAfterTheApplicationConnectAndRelays() throws Exception {
        Answer a = trusted.request(hbone, RawHboneClient.connect(ECHO_IP + ":" + echoPort), "ping");
        assertThat(a.status()).isEqualTo(200);
        assertThat(a.body()).isEqualTo("ping");
        // Istio's response baggage names the destination workload
        assertThat(a.baggage()).isEqualTo("k8s.namespace.name=default,k8s.deployment.name=echo");
    }

    @Test
    void aServiceHostnameReachesTheAddressedEndpointOnTheMappedPort() throws Exception {
        // as Istio's ztunnel: the hostname names a service, the target is the workload addressed (port 80 -> echo's)
        Answer a = trusted.request(hbone, RawHboneClient.connect("echo.default.svc.cluster.local:80"), "by name");
        assertThat(a.status()).isEqualTo(200);
        assertThat(a.body()).isEqualTo("by name");
        double unknown = rejections("unknown_service");
        assertThat(trusted.request(hbone, RawHboneClient.connect("nothing.default.svc.cluster.local:80"), null)
                .status()).isEqualTo(503);
        assertThat(rejections("unknown_service")).isEqualTo(unknown + 1);
        // a service the addressed workload is no endpoint of, and a port the service does not have
        assertThat(trusted.request(hbone, RawHboneClient.connect("other.default.svc.cluster.local:80"), null)
                .status()).isEqualTo(400);
        assertThat(trusted.request(hbone, RawHboneClient.connect("echo.default.svc.cluster.local:81"), null)
                .status()).isEqualTo(503);
        assertThat(rejections("unknown_port")).isGreaterThanOrEqualTo(1);
    }

    @Test
    void aHostnameOfServicesInSeveralNamespacesNamesTheOneTheAddressedWorkloadIsAnEndpointOf() throws Exception {
        // as Istio's inbound, which prefers the service of the addressed workload's namespace among those of a name
        for (String host : new String[] {"a.example.com", "b.example.com", "c.example.com"}) {
            Answer a = trusted.request(hbone, RawHboneClient.connect(host + ":80"), "to " + host);
            assertThat(a.status()).as(host).isEqualTo(200);
            assertThat(a.body()).isEqualTo("to " + host);
        }
    }

    @Test
    void aHostnameAuthorityNamesItsServiceAsTheDestinationService() throws Exception {
        // echo is an endpoint of several services on the same target port: as Istio's guess_inbound_service, which
        // looks only at the service a hostname authority names, that one, not the first of echo's on the port
        String[] toEcho = {"reporter=\"destination\"", "destination_workload=\"echo\""};
        String[] toC = {"reporter=\"destination\"", "destination_service=\"c.example.com\""};
        double before = node.metricSum("istio_tcp_connections_closed_total", toEcho);
        double beforeC = node.metricSum("istio_tcp_connections_closed_total", toC);
        Answer a = trusted.request(hbone, RawHboneClient.connect("c.example.com:80"), "to c");
        assertThat(a.status()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(10)).until(() -> node.metricSum("istio_tcp_connections_closed_total",
                toEcho) > before);
        assertThat(node.metricSum("istio_tcp_connections_closed_total", toC)).isEqualTo(beforeC + 1);
    }

    @Test
    void aClientNotKnownByItsAddressIsLabelledFromItsBaggage() throws Exception {
        // the TCP peer (127.0.0.1) is no workload: as Istio's derived source, the labels its baggage gives, with
        // the verified identity as principal (a source found by address would come first)
        Answer a = trusted.request(hbone, RawHboneClient.connect(ECHO_IP + ":" + echoPort).add("baggage",
                "k8s.cluster.name=c1,k8s.namespace.name=default,k8s.deployment.name=sleep,service.name=sleep-svc,"
                        + "service.version=v2"), "hi");
        assertThat(a.status()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(node.metricSum(
                "istio_tcp_connections_opened_total", "reporter=\"destination\"", "source_workload=\"sleep\"",
                "source_canonical_service=\"sleep-svc\"", "source_canonical_revision=\"v2\"",
                "source_workload_namespace=\"default\"", "source_cluster=\"c1\"",
                "source_principal=\"spiffe://cluster.local/ns/default/sa/client\"", "destination_workload=\"echo\""))
                .isEqualTo(1));
    }

    @Test
    void aSourceKnownOnlyFromItsBaggageHasItsWorkloadNameAsApp() throws Exception {
        // Istio's with_derived_source labels source_app with the workload name (a source found by address has its
        // canonical service there); version is the revision either way
        Answer a = trusted.request(hbone, RawHboneClient.connect(ECHO_IP + ":" + echoPort).add("baggage",
                "k8s.namespace.name=default,k8s.deployment.name=sleep4,service.name=sleep4-svc,service.version=v4"),
                "hi");
        assertThat(a.status()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(10)).until(() -> node.metricSum("istio_tcp_connections_opened_total",
                "reporter=\"destination\"", "source_workload=\"sleep4\"") == 1);
        assertThat(node.metricSum("istio_tcp_connections_opened_total", "reporter=\"destination\"",
                "source_workload=\"sleep4\"", "source_canonical_service=\"sleep4-svc\"", "source_app=\"sleep4\"",
                "source_version=\"v4\"")).isEqualTo(1);
    }

    @Test
    void anUnknownSourceIsLeftOutOfTheAccessLogAsIstiosLeavesIt() throws Throwable {
        // Istio's access log writes a field it has no value for not at all (its DefaultedUnknown's to_value is
        // None; only the metric labels say "unknown"): the peer 127.0.0.1 is no workload and sends no baggage
        String payload = "no baggage, unknown source (31)";
        java.util.Map<String, Object> line = completedLine(payload.length(), () -> assertThat(trusted.request(
                hbone, RawHboneClient.connect(ECHO_IP + ":" + echoPort), payload).status()).isEqualTo(200));
        assertThat(line).doesNotContainKeys("src.workload", "src.namespace")
                .containsEntry("src.identity", "spiffe://" + TD + "/ns/default/sa/client")
                .containsEntry("dst.workload", "echo").containsEntry("dst.namespace", "default");
        assertThat(node.metricSum("istio_tcp_connections_opened_total", "reporter=\"destination\"",
                "source_workload=\"unknown\"", "source_workload_namespace=\"unknown\"",
                "destination_workload=\"echo\"")).isGreaterThanOrEqualTo(1);
    }

    @Test
    void aSourceKnownOnlyFromItsBaggageIsLoggedByItsCanonicalService() throws Throwable {
        // Istio's access log names a source by its workload's name, falling back to the canonical service: a source
        // known only from its baggage has no workload, so the baggage's service.name
        String payload = "derived source, logged by service (38)";
        java.util.Map<String, Object> line = completedLine(payload.length(), () -> assertThat(trusted.request(hbone,
                RawHboneClient.connect(ECHO_IP + ":" + echoPort).add("baggage",
                        "k8s.namespace.name=default,k8s.deployment.name=sleep5,service.name=sleep5-svc"), payload)
                .status()).isEqualTo(200));
        assertThat(line).containsEntry("src.workload", "sleep5-svc").containsEntry("src.namespace", "default");
    }

    /**
     * Runs {@code request} and returns the inbound "connection complete" line of the connection that brought
     * {@code bytes} bytes (what tells it from the other tests' lines), as its key-value map.
     */
    java.util.Map<String, Object> completedLine(long bytes, Executable request) throws Throwable {
        Logger access = (Logger) LoggerFactory.getLogger("access");
        ListAppender<ILoggingEvent> lines = new ListAppender<>();
        lines.start();
        access.addAppender(lines);
        try {
            request.execute();
            return await().atMost(Duration.ofSeconds(10)).until(() -> List.copyOf(lines.list).stream()
                    .filter(e -> e.getFormattedMessage().equals("connection complete"))
                    .map(e -> {
                        java.util.Map<String, Object> m = new java.util.HashMap<>();
                        e.getKeyValuePairs().forEach(kv -> m.put(kv.key, kv.value));
                        return m;
                    })
                    .filter(m -> "inbound".equals(m.get("direction")) && Long.valueOf(bytes).equals(m.get("bytes_recv")))
                    .findFirst().orElse(null), java.util.Objects::nonNull);
        } finally {
            access.detachAppender(lines);
        }
    }

    @Test
    void baggageSplitOverSeveralHeadersIsReadWhole() throws Exception {
        // HTTP allows a list header several times; Istio's parse_baggage_header reads every baggage header, in order
        Answer a = trusted.request(hbone, RawHboneClient.connect(ECHO_IP + ":" + echoPort)
                .add("baggage", "k8s.cluster.name=c2,k8s.namespace.name=default")
                .add("baggage", "k8s.deployment.name=sleep2,service.name=sleep2-svc"), "hi");
        assertThat(a.status()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(node.metricSum(
                "istio_tcp_connections_opened_total", "reporter=\"destination\"", "source_workload=\"sleep2\"",
                "source_canonical_service=\"sleep2-svc\"", "source_cluster=\"c2\"", "destination_workload=\"echo\""))
                .isEqualTo(1));
    }

    @Test
    void aBaggageNamespaceClearedByAnEmptyValueIsLabelledUnknown() throws Exception {
        // Istio's parse_baggage_header: "key=" clears what an earlier entry set, and its derived source takes the
        // namespace from the baggage only, never from the peer identity (here in namespace default too)
        Answer a = trusted.request(hbone, RawHboneClient.connect(ECHO_IP + ":" + echoPort).add("baggage",
                "k8s.namespace.name=default,k8s.deployment.name=sleep3,k8s.namespace.name="), "hi");
        assertThat(a.status()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(node.metricSum(
                "istio_tcp_connections_opened_total", "reporter=\"destination\"", "source_workload=\"sleep3\"",
                "source_workload_namespace=\"unknown\"",
                "source_principal=\"spiffe://cluster.local/ns/default/sa/client\"", "destination_workload=\"echo\""))
                .isEqualTo(1));
    }

    @Test
    void aNamedTargetPortTheAddressedEndpointDoesNotResolveIs503() throws Exception {
        // the service port has target port 0 (a named port) and echo maps no port for it: echo does not serve it,
        // whatever listens on the service port's number there (Istio's NoPortForServices)
        double before = rejections("unknown_port");
        assertThat(trusted.request(hbone, RawHboneClient.connect("named.default.svc.cluster.local:" + echoPort),
                "x").status()).isEqualTo(503);
        assertThat(rejections("unknown_port")).isEqualTo(before + 1);
    }

    @Test
    void nonConnectMethodIs400() throws Exception {
        double before = rejections("bad_method");
        Http2Headers get = new DefaultHttp2Headers().method("GET").scheme("https").path("/").authority(ECHO_IP + ":1");
        assertThat(trusted.request(hbone, get, null).status()).isEqualTo(400);
        assertThat(rejections("bad_method")).isEqualTo(before + 1);
    }

    @Test
    void malformedAuthoritiesAre400() throws Exception {
        for (String authority : new String[] {"nonsense", ECHO_IP, ECHO_IP + ":99999", "[::1:80", "ec_ho.svc:80"}) {
            assertThat(trusted.request(hbone, RawHboneClient.connect(authority), null).status())
                    .as(authority).isEqualTo(400);
        }
        assertThat(rejections("bad_authority")).isGreaterThanOrEqualTo(5);
    }

    @Test
    void aWorkloadOnAnotherNodeIs400NeverAnOpenProxy() throws Exception {
        assertThat(trusted.request(hbone, RawHboneClient.connect(REMOTE_IP + ":80"), null).status()).isEqualTo(400);
        assertThat(rejections("not_local_workload")).isGreaterThanOrEqualTo(1);
    }

    @Test
    void authorityForAnotherLocalWorkloadThanTheAddressedOneIs400() throws Exception {
        assertThat(trusted.request(hbone, RawHboneClient.connect(CLIENT_IP + ":80"), null).status()).isEqualTo(400);
        assertThat(rejections("authority_mismatch")).isGreaterThanOrEqualTo(1);
    }

    @Test
    void anAddressThatIsNoWorkloadIs400AsAnyOtherThanTheAddressedOne() throws Exception {
        // Istio's IPMismatch: only the addressed workload (or a destination it is the waypoint of) is a target
        double before = rejections("authority_mismatch");
        assertThat(trusted.request(hbone, RawHboneClient.connect("10.1.2.3:80"), null).status()).isEqualTo(400);
        assertThat(rejections("authority_mismatch")).isEqualTo(before + 1);
    }

    @Test
    void anotherAddressOfTheAddressedWorkloadIs400() throws Exception {
        // Istio's validate_destination compares the address dialled with the authority's, not their workloads
        double before = rejections("authority_mismatch");
        Answer a = trusted.request(hbone, RawHboneClient.connect("[" + ECHO_IP6 + "]:" + echoPort), "x");
        assertThat(a.status()).isEqualTo(400);
        assertThat(rejections("authority_mismatch")).isEqualTo(before + 1);
    }

    @Test
    void anIpv4MappedAuthorityForAnIpv4AddressIs400() throws Exception {
        // [::ffff:a.b.c.d] is an IPv6 address to Istio, never the IPv4 address dialled
        double before = rejections("authority_mismatch");
        Answer a = trusted.request(hbone, RawHboneClient.connect("[::ffff:" + ECHO_IP + "]:" + echoPort), "x");
        assertThat(a.status()).isEqualTo(400);
        assertThat(rejections("authority_mismatch")).isEqualTo(before + 1);
    }

    @Test
    void ownPortAndFailedConnectAre503() throws Exception {
        assertThat(trusted.request(hbone, RawHboneClient.connect(ECHO_IP + ":15008"), null).status()).isEqualTo(503);
        assertThat(trusted.request(hbone, RawHboneClient.connect(ECHO_IP + ":1"), null).status()).isEqualTo(503);
        assertThat(rejections("illegal_port")).isGreaterThanOrEqualTo(1);
        assertThat(rejections("connect_failed")).isGreaterThanOrEqualTo(1);
        // a failed connect is also a failed connection in Istio's terms, with the destination it was for
        assertThat(node.metricSum("istio_tcp_connections_failed_total", "response_flags=\"CONNECT\"",
                "destination_workload=\"echo\"", "reporter=\"destination\"")).isGreaterThanOrEqualTo(1);
    }

    @Test
    void policyDenialIs401() throws Exception {
        assertThat(denied.request(hbone, RawHboneClient.connect(ECHO_IP + ":" + echoPort), null).status())
                .isEqualTo(401);
        assertThat(rejections("denied")).isGreaterThanOrEqualTo(1);
        // and in Istio's metrics, as a connection with response_flags DENY
        assertThat(node.metricSum("istio_tcp_connections_closed_total", "response_flags=\"DENY\"")).isGreaterThanOrEqualTo(1);
        assertThat(node.metricSum("istio_tcp_connections_failed_total", "response_flags=\"DENY\"",
                "source_principal=\"spiffe://cluster.local/ns/default/sa/denied\"")).isGreaterThanOrEqualTo(1);
    }

    @Test
    void oversizedHeadersAre431CountedLoggedOnceAndDoNoHarm() throws Throwable {
        // over hbone.maxHeaderListBytes (64 KiB): Netty's codec answers 431 before InboundStream sees the stream
        Http2Headers h = RawHboneClient.connect(ECHO_IP + ":" + echoPort).add("x-big", "x".repeat(70_000));
        List<String> logged = refusalsLogged("headers_too_large", () -> {
            assertThat(trusted.request(hbone, h, null).status()).isEqualTo(431);
        });
        assertThat(logged).hasSize(1);
        assertThat(logged.get(0)).contains("dst.addr=" + ECHO_IP + ":15008", "answered 431");
        // and the listener still serves
        assertThat(trusted.request(hbone, RawHboneClient.connect(ECHO_IP + ":" + echoPort), "ok").body())
                .isEqualTo("ok");
    }

    @Test
    void aHeaderBlockFarOverTheLimitEndsTheConnectionCountedAndLoggedOnce() throws Throwable {
        // past 1.25 times the limit Netty stops collecting the block: a connection error, GOAWAY
        Http2Headers h = RawHboneClient.connect(ECHO_IP + ":" + echoPort).add("x-big", "x".repeat(200_000));
        List<String> logged = refusalsLogged("http2_error", () -> {
            assertThat(trusted.request(hbone, h, null).status()).isZero();
        });
        assertThat(logged).hasSize(1);
        assertThat(logged.get(0)).contains("PROTOCOL_ERROR", "Header size exceeded");
        assertThat(trusted.request(hbone, RawHboneClient.connect(ECHO_IP + ":" + echoPort), "ok").body())
                .isEqualTo("ok");
    }

    /** A tunnel to the echo application: its stream and what came back on it. */
    record Echo(Http2StreamChannel stream, RawHboneClient.Seen seen) {}

    /** An echo tunnel on {@code connection} that is working: {@code first} came back. */
    static Echo echoing(Channel connection, String first) throws Exception {
        RawHboneClient.Seen seen = new RawHboneClient.Seen();
        Http2StreamChannel s = RawHboneClient.stream(connection, seen);
        RawHboneClient.headers(s, RawHboneClient.connect(ECHO_IP + ":" + echoPort), first, false);
        await().until(() -> seen.body.toString().equals(first));
        return new Echo(s, seen);
    }

    /**
     * A DATA frame on stream {@code id} written under the client's HTTP/2 codec (straight to TLS), which would refuse
     * to send one on a stream it has ended.
     */
    static void rawData(Channel connection, int id, String data) throws Exception {
        connection.eventLoop().submit(() -> {
            ChannelHandlerContext under = connection.pipeline().context(Http2FrameCodec.class);
            new DefaultHttp2FrameWriter().writeData(under, id, Unpooled.copiedBuffer(data, StandardCharsets.UTF_8), 0,
                    false, under.newPromise());
            under.flush();
        }).sync();
    }

    @Test
    void aConnectWithAnInvalidHeaderNameIsResetCountedLoggedOnceAndSparesItsNeighbours() throws Throwable {
        Channel connection = trusted.connection(hbone);
        try {
            Echo neighbour = echoing(connection, "one");
            // HTTP/2 header names are lower case: Netty's codec refuses the stream (RST_STREAM PROTOCOL_ERROR)
            // before InboundStream sees it
            Http2Headers bad = new DefaultHttp2Headers(false).method("CONNECT").authority(ECHO_IP + ":" + echoPort)
                    .add("X-Upper", "v");
            RawHboneClient.Seen refused = new RawHboneClient.Seen();
            Http2StreamChannel s = RawHboneClient.stream(connection, refused);
            List<String> logged = refusalsLogged("http2_stream_error", () -> {
                RawHboneClient.headers(s, bad, false);
                assertThat(refused.end.get(10, TimeUnit.SECONDS)).isEqualTo("reset 1"); // PROTOCOL_ERROR
            });
            assertThat(logged).hasSize(1);
            assertThat(logged.get(0)).contains("dst.addr=" + ECHO_IP + ":15008", "PROTOCOL_ERROR");
            // the connection and its other tunnels are unharmed
            RawHboneClient.data(neighbour.stream(), "two", false);
            await().until(() -> neighbour.seen().body.toString().equals("onetwo"));
            echoing(connection, "three");
        } finally {
            connection.close().sync();
        }
    }

    @Test
    void dataAfterTheClientEndedItsStreamIsResetCountedLoggedOnceAndSparesItsNeighbours() throws Throwable {
        Channel connection = trusted.connection(hbone);
        try {
            Echo neighbour = echoing(connection, "one");
            RawHboneClient.Seen refused = new RawHboneClient.Seen();
            Http2StreamChannel s = RawHboneClient.stream(connection, refused);
            double before = rejections("http2_stream_error");
            List<String> logged = refusalsLogged("http2_stream_error", () -> {
                // CONNECT with END_STREAM, then DATA on the stream the client has ended: STREAM_CLOSED
                s.eventLoop().submit(() -> s.write(new DefaultHttp2HeadersFrame(
                        RawHboneClient.connect(ECHO_IP + ":" + echoPort), true))).sync();
                rawData(connection, s.stream().id(), "late");
                assertThat(refused.end.get(10, TimeUnit.SECONDS)).isEqualTo("reset 5"); // STREAM_CLOSED
            });
            assertThat(logged).hasSize(1);
            assertThat(logged.get(0)).contains("STREAM_CLOSED");
            // a frame for a stream that is gone is no refusal (it is what a reset races with): Netty answers it,
            // nothing is counted
            rawData(connection, s.stream().id(), "later");
            RawHboneClient.data(neighbour.stream(), "two", false);
            await().until(() -> neighbour.seen().body.toString().equals("onetwo"));
            echoing(connection, "three");
            assertThat(rejections("http2_stream_error")).isEqualTo(before + 1);
        } finally {
            connection.close().sync();
        }
    }

    /**
     * A stream error on a tunnel already relaying (a second HEADERS without END_STREAM: PROTOCOL_ERROR) resets the
     * stream with Netty's code, not CANCEL, which the client would read as the tunnel's clean end (RFC 9113 §8.5).
     */
    @Test
    void aStreamErrorDuringTheRelayResetsWithItsOwnCodeNotCancel() throws Throwable {
        Channel connection = trusted.connection(hbone);
        try {
            Echo tunnel = echoing(connection, "one");
            Echo neighbour = echoing(connection, "two");
            connection.eventLoop().submit(() -> {
                ChannelHandlerContext under = connection.pipeline().context(Http2FrameCodec.class);
                new DefaultHttp2FrameWriter().writeHeaders(under, tunnel.stream().stream().id(),
                        new DefaultHttp2Headers().add("x-trailer", "1"), 0, false, under.newPromise());
                under.flush();
            }).sync();
            assertThat(tunnel.seen().end.get(10, TimeUnit.SECONDS)).isEqualTo("reset 1"); // PROTOCOL_ERROR
            RawHboneClient.data(neighbour.stream(), "three", false);
            await().until(() -> neighbour.seen().body.toString().equals("twothree"));
        } finally {
            connection.close().sync();
        }
    }

    /**
     * Runs {@code request}, waits for one more refusal counted as {@code reason}, and returns the access log's
     * "connection failed" lines for that reason logged meanwhile, each as its {@code key=value} list.
     */
    List<String> refusalsLogged(String reason, Executable request) throws Throwable {
        double before = rejections(reason);
        Logger access = (Logger) LoggerFactory.getLogger("access");
        ListAppender<ILoggingEvent> lines = new ListAppender<>();
        lines.start();
        access.addAppender(lines);
        try {
            request.execute();
            await().until(() -> rejections(reason) == before + 1);
        } finally {
            access.detachAppender(lines);
        }
        return lines.list.stream().filter(e -> e.getFormattedMessage().equals("connection failed"))
                .map(e -> e.getKeyValuePairs().stream().map(kv -> kv.key + "=" + kv.value).toList().toString())
                .filter(l -> l.contains("reason=" + reason + ",")).toList();
    }

    @Test
    void clientsWithoutAValidMeshCertificateNeverGetAStream() throws Exception {
        double before = rejections("tls_handshake");
        try (RawHboneClient none = new RawHboneClient(null)) {
            assertThat(none.request(hbone, RawHboneClient.connect(ECHO_IP + ":" + echoPort), null).status()).isZero();
        }
        var foreignTd = ca.leaf(Duration.ofHours(1), "spiffe://evil.example/ns/default/sa/client");
        try (RawHboneClient c = new RawHboneClient(foreignTd.keys().getPrivate(), foreignTd.cert())) {
            assertThat(c.request(hbone, RawHboneClient.connect(ECHO_IP + ":" + echoPort), null).status()).isZero();
        }
        TestCa other = new TestCa(vertx, "x");
        var foreignCa = other.leaf(Duration.ofHours(1), "spiffe://" + TD + "/ns/default/sa/client");
        try (RawHboneClient c = new RawHboneClient(foreignCa.keys().getPrivate(), foreignCa.cert())) {
            assertThat(c.request(hbone, RawHboneClient.connect(ECHO_IP + ":" + echoPort), null).status()).isZero();
        }
        await().until(() -> rejections("tls_handshake") >= before + 3);
    }

    @Test
    void aClientThatOffersOnlyChaCha20NeverGetsAStream() throws Exception {
        // BoringSSL cannot take ChaCha20-Poly1305 off TLS 1.3's list, so it may be negotiated: ztunnel then
        // closes the connection itself (reason cipher); the JDK provider already fails the handshake
        double before = rejections("cipher") + rejections("tls_handshake");
        var good = ca.leaf(Duration.ofHours(1), "spiffe://" + TD + "/ns/default/sa/client");
        try (RawHboneClient c = RawHboneClient.offering(java.util.List.of("TLS_CHACHA20_POLY1305_SHA256"),
                good.keys().getPrivate(), good.cert())) {
            assertThat(c.request(hbone, RawHboneClient.connect(ECHO_IP + ":" + echoPort), null).status()).isZero();
        }
        await().until(() -> rejections("cipher") + rejections("tls_handshake") >= before + 1);
        if (io.jmesh.core.tls.TlsPolicy.provider() == io.netty.handler.ssl.SslProvider.OPENSSL) {
            assertThat(rejections("cipher")).isPositive();
        }
    }

    @Test
    void aPolicyChangeClosesOpenTunnelsThatAreNoLongerAllowed() throws Exception {
        try (Socket s = Socks5Client.connect(node.socks(), CLIENT_IP, ECHO_IP, echoPort)) {
            s.getOutputStream().write(5);
            assertThat(s.getInputStream().read()).isEqualTo(5);
            lateDeny.set(true);
            node.ztunnel.policies().apply(java.util.List.of(), java.util.List.of()); // a push: re-check
            s.setSoTimeout(10_000);
            assertThat(s.getInputStream().read()).isEqualTo(-1);
        } finally {
            lateDeny.set(false);
        }
        assertThat(rejections("denied_late")).isGreaterThanOrEqualTo(1);
    }

    @Test
    void socksGarbageIsRefusedAndCounted() throws Exception {
        double before = node.ztunnel.telemetry().rejections(true, "socks_malformed");
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(CLIENT_IP, 0));
            s.connect(node.socks());
            OutputStream out = s.getOutputStream();
            out.write("GET / HTTP/1.1\r\n\r\n".getBytes());
            out.flush();
            s.setSoTimeout(5000);
            assertThat(s.getInputStream().read()).isEqualTo(-1); // closed on us
        }
        await().until(() -> node.ztunnel.telemetry().rejections(true, "socks_malformed") > before);
        // and SOCKS still works afterwards for a real client
        try (Socket s = Socks5Client.connect(node.socks(), CLIENT_IP, ECHO_IP, echoPort)) {
            s.getOutputStream().write(1);
            assertThat(s.getInputStream().read()).isEqualTo(1);
        }
    }

    @Test
    void socksClientThatHalfClosesMidHandshakeIsClosedNotKeptOpen() throws Exception {
        double before = node.ztunnel.telemetry().rejections(true, "socks_malformed");
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(CLIENT_IP, 0));
            s.connect(node.socks());
            s.getOutputStream().write(new byte[] {5, 1, 0});
            s.shutdownOutput(); // greeting sent, no CONNECT will ever come
            s.setSoTimeout(5000);
            assertThat(s.getInputStream().readNBytes(2)).containsExactly(5, 0);
            assertThat(s.getInputStream().read()).isEqualTo(-1); // closed by ztunnel, not left half-open
        }
        await().until(() -> node.ztunnel.telemetry().rejections(true, "socks_malformed") > before);
    }
}
