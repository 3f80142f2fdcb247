package io.jmesh.ztunnel.testing;

import io.jmesh.core.tls.TlsPolicy;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * An HBONE server (mTLS with any client certificate, ALPN h2, HTTP/2 on Netty's defaults) whose handling of each
 * stream the test supplies, so ztunnel's client side (pool, {@code HboneConnection}, relay) meets answers, resets,
 * GOAWAYs and deaths an Istio ztunnel would not produce on cue. One event loop: {@link #beforeHandshake} runs on
 * it, so a test can slow every dial down.
 */
public final class FakeHboneServer implements AutoCloseable {

    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    /** Open HBONE connections, to freeze or kill. */
    public final Set<Channel> connections = ConcurrentHashMap.newKeySet();
    /** Connections accepted so far (dials of the client). */
    public final AtomicInteger accepted = new AtomicInteger();
    /** Runs on the server's only event loop for each accepted connection, before its handshake. */
    public volatile Runnable beforeHandshake = () -> { };
    private final Channel server;

    /**
     * @param cert the server's certificate (its SPIFFE id is what the client expects)
     * @param perStream a new handler for each stream, the first in its pipeline
     */
    public FakeHboneServer(InetSocketAddress at, TestCa.Issued cert, Supplier<ChannelHandler> perStream)
            throws Exception {
        this(at, cert, perStream, Http2Settings.defaultSettings());
    }

    /** @param settings the server's SETTINGS (a low {@code MAX_CONCURRENT_STREAMS}, say) */
    public FakeHboneServer(InetSocketAddress at, TestCa.Issued cert, Supplier<ChannelHandler> perStream,
            Http2Settings settings) throws Exception {
        SslContext ssl = tls(cert);
        server = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel c) {
                        accepted.incrementAndGet();
                        beforeHandshake.run();
                        connections.add(c);
                        c.closeFuture().addListener(f -> connections.remove(c));
                        c.pipeline().addLast(ssl.newHandler(c.alloc()))
                                .addLast(Http2FrameCodecBuilder.forServer().initialSettings(settings).build())
                                .addLast(new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
                                    @Override
                                    protected void initChannel(Http2StreamChannel s) {
                                        s.pipeline().addLast(perStream.get());
                                    }
                                }))
                                .addLast(new ChannelInboundHandlerAdapter() {
                                    @Override
                                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                        ReferenceCountUtil.release(msg); // connection-level frames (GOAWAY...)
                                    }
                                });
                    }
                }).bind(at).sync().channel();
    }

    /** An HBONE server's TLS: {@code cert}, TLS 1.3, ALPN h2, a client certificate required (any is accepted). */
    public static SslContext tls(TestCa.Issued cert) throws javax.net.ssl.SSLException {
        return SslContextBuilder.forServer(cert.keys().getPrivate(), cert.cert())
                .protocols(TlsPolicy.PROTOCOLS)
                .clientAuth(ClientAuth.REQUIRE)
                .trustManager(InsecureTrustManagerFactory.INSTANCE)
                .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                        ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                        ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, "h2"))
                .build();
    }

    @Override
    public void close() throws Exception {
        server.close().sync();
        for (Channel c : connections) {
            c.close();
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
}
