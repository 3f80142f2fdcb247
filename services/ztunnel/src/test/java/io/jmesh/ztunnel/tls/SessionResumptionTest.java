package io.jmesh.ztunnel.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.tls.TlsPolicy;
import io.jmesh.ztunnel.testing.LocalNodeSetup;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.ssl.ReferenceCountedOpenSslEngine;
import io.netty.handler.ssl.SslProvider;
import io.netty.internal.tcnative.SSL;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import io.netty.util.ReferenceCountUtil;
import io.vertx.core.Vertx;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A client that resumes a TLS session on 15008 has its certificate checked again, as in a full handshake: while it
 * is valid the resumed session is served (Envoy-based peers resume), once it expired the connection is refused.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SessionResumptionTest {

    private static final String APP_IP = "127.0.97.11";

    @TempDir
    Path dir;

    record Result(boolean handshake, String failure, boolean resumed, int status) {}

    @Test
    void aResumedSessionIsServedOnlyWhileTheClientCertificateIsStillValid() throws Exception {
        Assumptions.assumeTrue(TlsPolicy.provider() == SslProvider.OPENSSL, "needs BoringSSL (netty-tcnative)");
        Vertx vertx = Vertx.vertx();
        ServerSocket app = new ServerSocket();
        app.bind(new InetSocketAddress(APP_IP, 0));
        Thread acceptor = new Thread(() -> {
            while (!app.isClosed()) {
                try {
                    app.accept();
                } catch (Exception e) {
                    return;
                }
            }
        });
        acceptor.setDaemon(true);
        acceptor.start();
        LocalNodeSetup setup = LocalNodeSetup.start(vertx, dir);
        Path mesh = setup.mesh("""
                workloads:
                  - {uid: app, name: app, namespace: default, serviceAccount: app, addresses: [%s],
                     node: node-r, tunnelProtocol: HBONE}
                """.formatted(APP_IP));
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        try (ZtunnelHarness node = ZtunnelHarness.start(dir, "node-r",
                setup.localNode("node-r", "127.0.97.1", mesh, null), null)) {
            await().atMost(Duration.ofSeconds(20)).until(node::ready);
            var cert = setup.ca().leaf(Duration.ofSeconds(3), "spiffe://cluster.local/ns/default/sa/client");
            SslContext ssl = SslContextBuilder.forClient().sslProvider(SslProvider.OPENSSL)
                    .protocols(TlsPolicy.PROTOCOLS).ciphers(TlsPolicy.CIPHER_SUITES)
                    .trustManager(InsecureTrustManagerFactory.INSTANCE)
                    .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                            ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                            ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, "h2"))
                    .keyManager(cert.keys().getPrivate(), cert.cert()).build();
            InetSocketAddress hbone = new InetSocketAddress(APP_IP, 15008);
            String authority = APP_IP + ":" + app.getLocalPort();

            Result first = connect(group, ssl, hbone, authority);
            assertThat(first.resumed()).isFalse();
            assertThat(first.status()).isEqualTo(200);
            Result again = connect(group, ssl, hbone, authority);
            assertThat(again.resumed()).as("the client resumed its session").isTrue();
            assertThat(again.status()).as("resumed, certificate still valid: " + again).isEqualTo(200);
            await().atMost(Duration.ofSeconds(10)).until(() -> cert.cert().getNotAfter().getTime()
                    < System.currentTimeMillis() - 1_000);
            Result expired = connect(group, ssl, hbone, authority);
            assertThat(expired.status()).as("resumed with an expired certificate: " + expired).isNotEqualTo(200);
            assertThat(node.metric("ztunnel_connection_rejections_total", "direction", "inbound", "reason",
                    "tls_resumed")).isEqualTo(1.0);
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            app.close();
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }

    private static Result connect(EventLoopGroup group, SslContext ssl, InetSocketAddress server, String authority)
            throws Exception {
        CompletableFuture<Boolean> handshake = new CompletableFuture<>();
        Channel ch = new Bootstrap().group(group).channel(NioSocketChannel.class)
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel c) {
                        // a peer host and port: the client session cache keys by them, so the session is resumed
                        c.pipeline().addLast("tls", ssl.newHandler(c.alloc(), server.getHostString(), server.getPort()))
                                .addLast(new ChannelInboundHandlerAdapter() {
                                    @Override
                                    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                                        if (evt instanceof SslHandshakeCompletionEvent e) {
                                            handshake.complete(e.isSuccess());
                                        }
                                        ctx.fireUserEventTriggered(evt);
                                    }

                                    @Override
                                    public void channelInactive(ChannelHandlerContext ctx) {
                                        handshake.complete(false);
                                        ctx.fireChannelInactive();
                                    }
                                })
                                .addLast(Http2FrameCodecBuilder.forClient().build())
                                .addLast(new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
                    }
                }).connect(server).sync().channel();
        try {
            boolean ok = handshake.get(10, TimeUnit.SECONDS);
            SslHandler h = ch.pipeline().get(SslHandler.class);
            boolean resumed = SSL.isSessionReused(((ReferenceCountedOpenSslEngine) h.engine()).sslPointer());
            if (!ok) {
                return new Result(false, "handshake failed", resumed, 0);
            }
            CompletableFuture<Integer> status = new CompletableFuture<>();
            var opened = new Http2StreamChannelBootstrap(ch).handler(new ChannelInboundHandlerAdapter() {
                @Override
                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                    if (msg instanceof Http2HeadersFrame f) {
                        status.complete(Integer.parseInt(f.headers().status().toString()));
                    }
                    ReferenceCountUtil.release(msg);
                }

                @Override
                public void channelInactive(ChannelHandlerContext ctx) {
                    status.complete(-1);
                }
            }).open().await();
            if (!opened.isSuccess()) {
                return new Result(true, "stream: " + opened.cause(), resumed, 0);
            }
            opened.getNow().writeAndFlush(new DefaultHttp2HeadersFrame(
                    new DefaultHttp2Headers().method("CONNECT").authority(authority), false));
            int s;
            try {
                s = status.get(5, TimeUnit.SECONDS);
            } catch (Exception e) {
                s = -2;
            }
            Thread.sleep(200); // session tickets arrive after the handshake
            return new Result(true, "", resumed, s);
        } finally {
            ch.close().sync();
        }
    }
}
