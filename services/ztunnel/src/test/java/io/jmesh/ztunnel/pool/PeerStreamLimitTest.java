package io.jmesh.ztunnel.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.ztunnel.testing.FakeHboneServer;
import io.jmesh.ztunnel.testing.LocalNodeSetup;
import io.jmesh.ztunnel.testing.RawHboneClient;
import io.jmesh.ztunnel.testing.Socks5Client;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.DefaultHttp2SettingsFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.AttributeKey;
import io.netty.util.ReferenceCountUtil;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The pool against HBONE servers whose {@code SETTINGS_MAX_CONCURRENT_STREAMS} is below the pool's own cap (100):
 * the peer's limit caps a connection from its first stream on, and a limit the peer lowers later applies to the next
 * stream; tunnels beyond it go to another connection instead of failing.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class PeerStreamLimitTest {

    static final String CLIENT_IP = "127.0.213.11";
    /** Advertises one stream per connection from the start, and dials slowly. */
    static final String ONE_STREAM_IP = "127.0.214.11";
    /** Advertises Netty's default (no limit) and lowers it to one on demand. */
    static final String LOWERING_IP = "127.0.214.12";
    /** Advertises no stream at all (zero) from the start. */
    static final String ZERO_IP = "127.0.214.13";

    @TempDir
    static Path dir;
    static Vertx vertx;
    static ZtunnelHarness node;
    static FakeHboneServer oneStream;
    static FakeHboneServer lowering;
    static FakeHboneServer zero;

    static final AttributeKey<AtomicInteger> STREAMS = AttributeKey.valueOf("test.streams");

    /**
     * Answers 200 and echoes; refuses a stream beyond {@code limit} open on its connection with
     * RST_STREAM(REFUSED_STREAM), as an h2 server enforcing its advertised limit does (Netty's own enforces it only
     * once the client acknowledged the SETTINGS).
     */
    static final class Echo extends ChannelInboundHandlerAdapter {
        private final int limit;
        private boolean counted;

        Echo(int limit) {
            this.limit = limit;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof Http2HeadersFrame) {
                    Channel parent = ((Http2StreamChannel) ctx.channel()).parent();
                    parent.attr(STREAMS).setIfAbsent(new AtomicInteger());
                    if (parent.attr(STREAMS).get().incrementAndGet() > limit) {
                        parent.attr(STREAMS).get().decrementAndGet();
                        ctx.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.REFUSED_STREAM));
                        return;
                    }
                    counted = true;
                    ctx.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200"), false));
                } else if (msg instanceof Http2DataFrame d) {
                    ctx.writeAndFlush(new DefaultHttp2DataFrame(d.content().retain(), d.isEndStream()));
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (counted) {
                ((Http2StreamChannel) ctx.channel()).parent().attr(STREAMS).get().decrementAndGet();
            }
            ctx.fireChannelInactive();
        }
    }

    @BeforeAll
    static void start() throws Exception {
        vertx = Vertx.vertx();
        LocalNodeSetup setup = LocalNodeSetup.start(vertx, dir);
        Path mesh = setup.mesh("""
                workloads:
                  - {uid: client, name: client, namespace: default, serviceAccount: client, addresses: [%s],
                     node: node-a, tunnelProtocol: HBONE}
                  - {uid: one, name: one, namespace: default, serviceAccount: peer, addresses: [%s],
                     node: node-f, tunnelProtocol: HBONE}
                  - {uid: lowering, name: lowering, namespace: default, serviceAccount: peer, addresses: [%s],
                     node: node-f, tunnelProtocol: HBONE}
                  - {uid: zero, name: zero, namespace: default, serviceAccount: peer, addresses: [%s],
                     node: node-f, tunnelProtocol: HBONE}
                """.formatted(CLIENT_IP, ONE_STREAM_IP, LOWERING_IP, ZERO_IP));
        node = ZtunnelHarness.start(dir, "node-a", setup.localNode("node-a", "127.0.213.1", mesh, ""), null);
        await().atMost(Duration.ofSeconds(20)).until(node::ready);
        var cert = setup.ca().leaf(Duration.ofHours(1), "spiffe://cluster.local/ns/default/sa/peer");
        oneStream = new FakeHboneServer(new InetSocketAddress(ONE_STREAM_IP, 15008), cert, () -> new Echo(1),
                Http2Settings.defaultSettings().maxConcurrentStreams(1));
        lowering = new FakeHboneServer(new InetSocketAddress(LOWERING_IP, 15008), cert,
                () -> new Echo(Integer.MAX_VALUE));
        zero = new FakeHboneServer(new InetSocketAddress(ZERO_IP, 15008), cert, () -> new Echo(0),
                Http2Settings.defaultSettings().maxConcurrentStreams(0));
    }

    @AfterEach
    void dropPool() {
        node.ztunnel.pool().all().forEach(c -> c.channel().close());
        await().atMost(Duration.ofSeconds(10)).until(() -> node.ztunnel.pool().openConnections() == 0);
    }

    @AfterAll
    static void stop() throws Exception {
        oneStream.close();
        lowering.close();
        zero.close();
        node.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    static Socket echoed(String to, String text) throws IOException {
        Socket s = Socks5Client.connect(node.socks(), CLIENT_IP, to, 8080);
        s.setSoTimeout(15_000);
        s.getOutputStream().write(text.getBytes());
        assertThat(new String(s.getInputStream().readNBytes(text.length()))).isEqualTo(text);
        return s;
    }

    /**
     * Tunnels that wait together on one dial get one stream each from the new connection only as far as the peer's
     * limit allows; the others wait for further connections. None is refused.
     */
    @Test
    void aBurstOfTunnelsToAPeerWithOneStreamPerConnectionAllGetThrough() throws Exception {
        oneStream.beforeHandshake = () -> {
            try {
                Thread.sleep(200); // the burst piles up on each dial
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        ExecutorService threads = Executors.newFixedThreadPool(6);
        List<Socket> open = new ArrayList<>();
        try {
            List<Future<Socket>> results = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                String text = "tunnel-" + i;
                results.add(threads.submit(() -> echoed(ONE_STREAM_IP, text)));
            }
            List<String> failures = new ArrayList<>();
            for (Future<Socket> f : results) {
                try {
                    open.add(f.get(60, TimeUnit.SECONDS));
                } catch (java.util.concurrent.ExecutionException e) {
                    failures.add(String.valueOf(e.getCause()));
                }
            }
            assertThat(failures).as("tunnels refused").isEmpty();
            assertThat(node.ztunnel.pool().all()).allSatisfy(c -> assertThat(c.streams()).isLessThanOrEqualTo(1));
        } finally {
            oneStream.beforeHandshake = () -> { };
            for (Socket s : open) {
                s.close();
            }
            threads.shutdownNow();
        }
    }

    /**
     * A stream slot reserved just before the peer lowered its limit: the stream is never sent (Netty refuses to open
     * it beyond the peer's limit), so the refusal says the tunnel may be retried on another connection, as a stream
     * the peer refused would.
     */
    @Test
    void aStreamRefusedLocallyAfterTheLimitWasLoweredMayBeRetried() throws Exception {
        try (Socket a = echoed(LOWERING_IP, "a")) {
            HboneConnection pooled = node.ztunnel.pool().all().get(0);
            assertThat(pooled.tryReserve()).as("a second slot, before the peer lowers its limit").isTrue();
            for (Channel c : lowering.connections) {
                c.writeAndFlush(new DefaultHttp2SettingsFrame(new Http2Settings().maxConcurrentStreams(1))).sync();
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> pooled.channel().pipeline().get(Http2FrameCodec.class)
                    .connection().local().maxActiveStreams() == 1);
            Throwable failure = pooled.open(RawHboneClient.connect(LOWERING_IP + ":8080")).toCompletionStage()
                    .handle((ok, e) -> e).toCompletableFuture().get(10, TimeUnit.SECONDS);
            assertThat(failure).as("refused").isNotNull();
            assertThat(failure).isInstanceOfSatisfying(HboneConnection.UnansweredException.class,
                    u -> assertThat(u.retryable()).isTrue());
            await().atMost(Duration.ofSeconds(10)).until(() -> pooled.streams() == 1); // the slot came back
        }
    }

    /**
     * A limit of zero is one (RFC 9113 §6.5.2: no new streams on this connection until it is raised), not "no
     * limit": the open tunnel goes on, the next one gets a connection of its own instead of a stream the peer forbids.
     */
    @Test
    void aLimitLoweredToZeroSendsTheNextTunnelToANewConnection() throws Exception {
        int dialsBefore = lowering.accepted.get();
        try (Socket a = echoed(LOWERING_IP, "a")) {
            for (Channel c : lowering.connections) {
                c.writeAndFlush(new DefaultHttp2SettingsFrame(new Http2Settings().maxConcurrentStreams(0))).sync();
            }
            HboneConnection pooled = node.ztunnel.pool().all().get(0);
            await().atMost(Duration.ofSeconds(10)).until(() -> pooled.channel().pipeline().get(Http2FrameCodec.class)
                    .connection().local().maxActiveStreams() == 0);
            try (Socket c = echoed(LOWERING_IP, "c")) {
                assertThat(lowering.accepted.get() - dialsBefore).as("a second connection").isEqualTo(2);
            }
            assertThat(pooled.streams()).isEqualTo(1);
            a.getOutputStream().write("x".getBytes());
            assertThat(a.getInputStream().read()).isEqualTo('x');
        }
    }

    /**
     * A peer that allows no stream on any connection: each new connection counts as unusable, so the tunnel is
     * refused after a bounded number of dials rather than dialling until the connect timeout.
     */
    @Test
    void aPeerAllowingNoStreamIsGivenUpOnAfterABoundedNumberOfDials() throws Exception {
        int dialsBefore = zero.accepted.get();
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> echoed(ZERO_IP, "z"))
                .isInstanceOf(Socks5Client.Refused.class);
        assertThat(zero.accepted.get() - dialsBefore).as("dials").isEqualTo(4);
        // none of them is kept: each refused tunnel would otherwise leave 4 idle connections for the idle timeout
        await().atMost(Duration.ofSeconds(10)).until(() -> node.ztunnel.pool().openConnections() == 0);
    }

    /**
     * The peer lowers its limit to one while two tunnels are open on the connection: they go on, and the next tunnel
     * gets a connection of its own.
     */
    @Test
    void aLimitLoweredLaterSendsTheNextTunnelToANewConnection() throws Exception {
        int dialsBefore = lowering.accepted.get();
        try (Socket a = echoed(LOWERING_IP, "a"); Socket b = echoed(LOWERING_IP, "b")) {
            assertThat(lowering.accepted.get() - dialsBefore).as("one connection for both").isEqualTo(1);
            for (Channel c : lowering.connections) {
                c.writeAndFlush(new DefaultHttp2SettingsFrame(new Http2Settings().maxConcurrentStreams(1))).sync();
            }
            HboneConnection pooled = node.ztunnel.pool().all().get(0);
            await().atMost(Duration.ofSeconds(10)).until(() -> pooled.channel().pipeline().get(Http2FrameCodec.class)
                    .connection().local().maxActiveStreams() == 1);
            try (Socket c = echoed(LOWERING_IP, "c")) {
                assertThat(lowering.accepted.get() - dialsBefore).as("a second connection").isEqualTo(2);
            }
            a.getOutputStream().write("x".getBytes());
            assertThat(a.getInputStream().read()).isEqualTo('x');
            b.getOutputStream().write("y".getBytes());
            assertThat(b.getInputStream().read()).isEqualTo('y');
        }
    }
}
