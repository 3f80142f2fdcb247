package io.jmesh.ztunnel.inbound;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.testing.fuzz.Fuzzer;
import io.jmesh.testing.fuzz.LeakWatch;
import io.jmesh.ztunnel.testing.FuzzNode;
import io.jmesh.ztunnel.testing.RawHboneClient;
import io.jmesh.ztunnel.testing.TestCa;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.util.AsciiString;
import java.io.ByteArrayOutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The inbound HBONE listener (15008) of a whole ztunnel against CONNECT requests with mutated header values, sent
 * by a mesh client over mTLS + HTTP/2: {@code :authority}, {@code forwarded}, {@code baggage} and {@code
 * traceparent} (one input = the four values separated by newlines). Oracle, per request: the status is one of
 * Istio's 200/400/401/503, or the stream is reset for a value HTTP/2 itself forbids; 400 whenever
 * {@link Authority#parseTarget} refuses the authority; 200 only for the echo workload's address and port, and then the
 * tunnel relays; every refusal moves {@code ztunnel_connection_rejections_total}. Every 50 requests a valid
 * CONNECT still relays; at the end no ByteBuf leaked, no I/O thread is stuck and no tunnel is left open.
 */
@Tag("fuzz")
class HboneConnectFuzz {

    static final int LIVENESS_EVERY = 50;
    static final Set<Integer> STATUSES = Set.of(200, 400, 401, 503);

    @TempDir
    static Path dir;
    static FuzzNode node;
    static RawHboneClient client;
    static InetSocketAddress hbone;

    @BeforeAll
    static void start() throws Exception {
        node = FuzzNode.start(dir, "127.0.160");
        TestCa.Issued id = node.ca.leaf(Duration.ofHours(1), "spiffe://cluster.local/ns/default/sa/client");
        client = new RawHboneClient(id.keys().getPrivate(), id.cert());
        hbone = new InetSocketAddress(node.echoIp, 15008);
    }

    @AfterAll
    static void stop() throws Exception {
        client.close();
        node.close();
    }

    byte[][] seeds() {
        String forwarded = "for=\"" + node.clientIp + ":41234\";host=" + "echo.default.svc.cluster.local";
        String baggage = "k8s.cluster.name=Kubernetes,k8s.namespace.name=default,k8s.deployment.name=client,"
                + "service.name=client,service.version=v1";
        String traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        String echo = node.echoIp + ":" + node.echoPort;
        return new byte[][] {
            input(echo, forwarded, baggage, traceparent),
            input("[::ffff:" + node.echoIp + "]:" + node.echoPort, "for=\"[::1]:41234\"", "", ""),
            input(node.clientIp + ":" + node.echoPort, forwarded, baggage, traceparent), // another local workload
            input(node.vip + ":80", "", baggage, ""), // a VIP is no workload
            input(FuzzNode.SERVICE + ":80", forwarded, "", ""), // the service by name
            input(node.echoIp + ":15008", "", "", traceparent), // ztunnel's own port
            input(echo, "for=\"10.0.0.1:1\";host=nowhere.example", "k8s.namespace.name=", "00-xyz"),
            // through an east-west gateway: the source's labels come from the baggage
            input(echo, forwarded, baggage, traceparent, "net-remote"),
            input(echo, "", "k8s.pod.name=\u00ff\u0001,service.name=" + "x".repeat(300), "", "net-remote"),
        };
    }

    @Test
    void everyConnectIsAnsweredWithAnIstioStatusAndEveryRefusalCounted() throws Exception {
        LeakWatch.reset();
        long[] sent = {0};
        Fuzzer.named("hbone-connect", 400).seeds(seeds()).run(input -> {
            check(input);
            if (++sent[0] % LIVENESS_EVERY == 0) {
                assertServes();
            }
        });
        assertServes();
        node.assertSocksServes();
        node.assertHealthy();
        assertThat(LeakWatch.leaks()).isEmpty();
    }

    private void check(byte[] input) throws Exception {
        List<byte[]> f = fields(input);
        Http2Headers h = new DefaultHttp2Headers(false).method("CONNECT").authority(new AsciiString(f.get(0)));
        String[] names = {"forwarded", "baggage", "traceparent", "x-forwarded-network"};
        for (int i = 1; i < f.size(); i++) {
            if (f.get(i).length > 0) {
                h.add(names[i - 1], new AsciiString(f.get(i)));
            }
        }
        Authority.Target target;
        try {
            target = Authority.parseTarget(h.authority());
        } catch (IllegalArgumentException e) {
            target = null;
        }
        double refusedBefore = node.rejections(false);
        RawHboneClient.Answer a = client.request(hbone, h, "ping");
        String what = "answer " + a;
        if (a.status() == 0) {
            assertThat(forbiddenByHttp2(f)).as(what + ": a stream without status only for a value HTTP/2 forbids")
                    .isTrue();
            return;
        }
        assertThat(a.status()).as(what).isIn(STATUSES);
        if (target == null) {
            assertThat(a.status()).as(what + ": an authority Authority.parseTarget refuses").isEqualTo(400);
        }
        if (a.status() == 200) {
            // the echo workload by address, or by its service's hostname on the service port
            assertThat(target.ip() != null ? target.address() : target.hostname() + ":" + target.port())
                    .as(what + ": 200 only for the echo workload")
                    .isIn(new InetSocketAddress(node.echoIp, node.echoPort), FuzzNode.SERVICE + ":80");
            assertThat(a.body()).as(what + ": the tunnel relays").isEqualTo("ping");
            return;
        }
        if (node.rejections(false) == refusedBefore) {
            await("refusal counted in ztunnel_connection_rejections_total").atMost(Duration.ofSeconds(2))
                    .until(() -> node.rejections(false) > refusedBefore);
        }
    }

    /** A field value RFC 9113 §8.2.1 forbids: NUL, CR or LF, or whitespace at either end (or no authority). */
    static boolean forbiddenByHttp2(List<byte[]> fields) {
        if (fields.get(0).length == 0) {
            return true;
        }
        for (byte[] v : fields) {
            for (byte b : v) {
                if (b == 0 || b == '\r' || b == '\n') {
                    return true;
                }
            }
            if (v.length > 0 && (isSpace(v[0]) || isSpace(v[v.length - 1]))) {
                return true;
            }
        }
        return false;
    }

    private static boolean isSpace(byte b) {
        return b == ' ' || b == '\t';
    }

    private void assertServes() throws Exception {
        RawHboneClient.Answer a = client.request(hbone,
                RawHboneClient.connect(node.echoIp + ":" + node.echoPort), "still here");
        assertThat(a.status()).as("a valid CONNECT still gets 200").isEqualTo(200);
        assertThat(a.body()).isEqualTo("still here");
    }

    /**
     * The input's newline-separated fields: authority, forwarded, baggage, traceparent, x-forwarded-network (at most
     * five).
     */
    static List<byte[]> fields(byte[] input) {
        List<byte[]> out = new ArrayList<>(5);
        ByteArrayOutputStream cur = new ByteArrayOutputStream();
        for (byte b : input) {
            if (b == '\n' && out.size() < 4) {
                out.add(cur.toByteArray());
                cur.reset();
            } else {
                cur.write(b);
            }
        }
        out.add(cur.toByteArray());
        return out;
    }

    static byte[] input(String authority, String forwarded, String baggage, String traceparent, String... network) {
        String text = String.join("\n", authority, forwarded, baggage, traceparent);
        return (network.length == 0 ? text : text + "\n" + network[0]).getBytes(StandardCharsets.ISO_8859_1);
    }
}
