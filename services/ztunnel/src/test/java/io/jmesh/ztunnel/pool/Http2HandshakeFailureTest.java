package io.jmesh.ztunnel.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.jmesh.ztunnel.testing.FakeHboneServer;
import io.jmesh.ztunnel.testing.LocalNodeSetup;
import io.jmesh.ztunnel.testing.Socks5Client;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.util.ReferenceCountUtil;
import io.vertx.core.Vertx;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A peer that completes the TLS handshake (right identity, ALPN h2) but does not speak HTTP/2: the dial fails as
 * Istio's ztunnel reports a failed HTTP/2 handshake, {@code response_flags="H2_HANDSHAKE_FAILURE"}, not as a
 * generic connect failure.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class Http2HandshakeFailureTest {

    static final String CLIENT_IP = "127.0.187.11";
    /** answers HTTP/1.1 instead of the HTTP/2 preface */
    static final String GARBLED_IP = "127.0.188.11";
    /** says nothing at all after the handshake */
    static final String SILENT_IP = "127.0.188.12";

    @TempDir
    static Path dir;
    static Vertx vertx;
    static ZtunnelHarness node;
    static final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());

    @BeforeAll
    static void start() throws Exception {
        vertx = Vertx.vertx();
        LocalNodeSetup setup = LocalNodeSetup.start(vertx, dir);
        Path mesh = setup.mesh("""
                workloads:
                  - {uid: client, name: client, namespace: default, serviceAccount: client, addresses: [%s],
                     node: node-a, tunnelProtocol: HBONE}
                  - {uid: garbled, name: garbled, namespace: default, serviceAccount: peer, addresses: [%s],
                     node: node-g, tunnelProtocol: HBONE}
                  - {uid: silent, name: silent, namespace: default, serviceAccount: peer, addresses: [%s],
                     node: node-g, tunnelProtocol: HBONE}
                """.formatted(CLIENT_IP, GARBLED_IP, SILENT_IP));
        node = ZtunnelHarness.start(dir, "node-a",
                setup.localNode("node-a", "127.0.187.1", mesh, "hbone: {connectTimeout: 2s}"), null);
        await().atMost(Duration.ofSeconds(20)).until(node::ready);
        var cert = setup.ca().leaf(Duration.ofHours(1), "spiffe://cluster.local/ns/default/sa/peer");
        SslContext ssl = FakeHboneServer.tls(cert);
        serve(ssl, GARBLED_IP, "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
        serve(ssl, SILENT_IP, null);
    }

    /** A TLS server on {@code ip}:15008 that writes {@code answer} (if any) after the handshake and drops input. */
    static void serve(SslContext ssl, String ip, String answer) throws InterruptedException {
        new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel c) {
                        c.pipeline().addLast(ssl.newHandler(c.alloc())).addLast(new ChannelInboundHandlerAdapter() {
                            @Override
                            public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                                if (evt instanceof SslHandshakeCompletionEvent done && done.isSuccess()
                                        && answer != null) {
                                    ctx.writeAndFlush(Unpooled.copiedBuffer(answer, StandardCharsets.US_ASCII));
                                }
                            }

                            @Override
                            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                ReferenceCountUtil.release(msg);
                            }
                        });
                    }
                }).bind(new InetSocketAddress(ip, 15008)).sync();
    }

    @AfterAll
    static void stop() throws Exception {
        node.close();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    static double h2HandshakeFailures() {
        return node.metricSum("istio_tcp_connections_failed_total", "reporter=\"source\"",
                "response_flags=\"H2_HANDSHAKE_FAILURE\"");
    }

    @Test
    void aPeerAnsweringHttp1IsAnHttp2HandshakeFailure() {
        double before = h2HandshakeFailures();
        assertThatThrownBy(() -> Socks5Client.connect(node.socks(), CLIENT_IP, GARBLED_IP, 8080).close())
                .isInstanceOf(Socks5Client.Refused.class);
        await().atMost(Duration.ofSeconds(10)).until(() -> h2HandshakeFailures() == before + 1);
        assertThat(node.metric("ztunnel_pool_dials_total", "outcome", "no_settings")).isPositive();
    }

    @Test
    void aPeerThatSendsNoSettingsIsAnHttp2HandshakeFailure() {
        double before = h2HandshakeFailures();
        assertThatThrownBy(() -> Socks5Client.connect(node.socks(), CLIENT_IP, SILENT_IP, 8080).close())
                .isInstanceOf(Socks5Client.Refused.class);
        await().atMost(Duration.ofSeconds(10)).until(() -> h2HandshakeFailures() == before + 1);
    }
}
