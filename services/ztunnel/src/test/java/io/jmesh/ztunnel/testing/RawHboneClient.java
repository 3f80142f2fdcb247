package io.jmesh.ztunnel.testing;

import io.jmesh.core.tls.TlsPolicy;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A hand-driven HBONE client for bad-input tests: any method, authority and headers, any (or no) client
 * certificate, and it does not check the server, so the test sees exactly what ztunnel answers. {@link #connection}
 * and {@link #stream} hand the connection and its streams to the test, which then sends any frame at any time.
 */
public final class RawHboneClient implements AutoCloseable {

    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    private final SslContext ssl;

    /** {@code key} null: no client certificate. */
    public RawHboneClient(PrivateKey key, X509Certificate... chain) throws Exception {
        this(null, key, chain);
    }

    /** A client on the JDK's TLS that offers only {@code ciphers} (e.g. ChaCha20, which ztunnel must refuse). */
    public static RawHboneClient offering(java.util.List<String> ciphers, PrivateKey key, X509Certificate... chain)
            throws Exception {
        return new RawHboneClient(ciphers, key, chain);
    }

    private RawHboneClient(java.util.List<String> ciphers, PrivateKey key, X509Certificate... chain) throws Exception {
        SslContextBuilder b = SslContextBuilder.forClient()
                .protocols(TlsPolicy.PROTOCOLS)
                .trustManager(InsecureTrustManagerFactory.INSTANCE)
                .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                        ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                        ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, "h2"));
        if (key != null) {
            b.keyManager(key, chain);
        }
        if (ciphers != null) {
            b.sslProvider(io.netty.handler.ssl.SslProvider.JDK).ciphers(ciphers);
        }
        ssl = b.build();
    }

    /** The answer to one request: a status, or why there was none; {@code baggage} of the response headers. */
    public record Answer(int status, String failure, String body, String baggage) {

        Answer(int status, String failure, String body) {
            this(status, failure, body, "");
        }
    }

    /**
     * Connects to {@code server}, sends one request and, on 200, {@code payload} with END_STREAM, collecting the
     * response body until END_STREAM.
     */
    public Answer request(InetSocketAddress server, Http2Headers headers, String payload) throws Exception {
        CompletableFuture<Answer> answer = new CompletableFuture<>();
        CompletableFuture<Channel> ready = new CompletableFuture<>();
        Channel ch = open(server, ready, () -> answer.complete(new Answer(0, "connection closed", "")), null);
        try {
            try {
                ready.get(10, TimeUnit.SECONDS);
                // TLS 1.3: a rejected client certificate shows up after the handshake, as an alert on first read
            } catch (Exception e) {
                return new Answer(0, "handshake: " + e.getMessage(), "");
            }
            StringBuilder body = new StringBuilder();
            io.netty.util.concurrent.Future<Http2StreamChannel> opened = new Http2StreamChannelBootstrap(ch).handler(
                    new ChannelInboundHandlerAdapter() {
                int status;
                String baggage = "";

                @Override
                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                    try {
                        if (msg instanceof Http2HeadersFrame h && status == 0) {
                            status = Integer.parseInt(h.headers().status().toString());
                            CharSequence b = h.headers().get("baggage");
                            baggage = b == null ? "" : b.toString();
                            if (status == 200 && payload != null) {
                                ctx.writeAndFlush(new DefaultHttp2DataFrame(ctx.alloc().buffer()
                                        .writeBytes(payload.getBytes(StandardCharsets.UTF_8)), true));
                            }
                            if (h.isEndStream()) {
                                answer.complete(new Answer(status, "", ""));
                            }
                        } else if (msg instanceof Http2DataFrame d) {
                            body.append(d.content().toString(StandardCharsets.UTF_8));
                            if (d.isEndStream()) {
                                answer.complete(new Answer(status, "", body.toString(), baggage));
                            }
                        } else if (msg instanceof Http2ResetFrame r) {
                            answer.complete(new Answer(status, "reset " + r.errorCode(), body.toString()));
                        }
                    } finally {
                        ReferenceCountUtil.release(msg);
                    }
                }

                @Override
                public void channelInactive(ChannelHandlerContext ctx) {
                    answer.complete(new Answer(status, "stream closed", body.toString()));
                }
            }).open().await();
            if (!opened.isSuccess()) {
                // TLS 1.3: the server may refuse our certificate (alert, close) before the stream could open
                return new Answer(0, "connection closed before the stream opened: " + opened.cause(), "");
            }
            Http2StreamChannel stream = opened.getNow();
            stream.writeAndFlush(new DefaultHttp2HeadersFrame(headers, false));
            return answer.get(15, TimeUnit.SECONDS);
        } finally {
            ch.close().sync();
        }
    }

    /**
     * Connects to {@code server}, completes TLS and the HTTP/2 preface, keeps answering for {@code answerFor},
     * then stops reading the socket: from then on PINGs go unanswered, as from a peer that froze.
     */
    public Channel stall(InetSocketAddress server, Duration answerFor) throws Exception {
        CompletableFuture<Channel> ready = new CompletableFuture<>();
        Channel ch = open(server, ready, () -> { }, null);
        ready.get(10, TimeUnit.SECONDS);
        Thread.sleep(answerFor.toMillis());
        ch.eventLoop().submit(() -> ch.config().setAutoRead(false)).sync();
        return ch;
    }

    /** What one stream of {@link #stream} received, as it arrives. */
    public static final class Seen {
        /** The answer's status; -1 when the stream closed unanswered. */
        public final CompletableFuture<Integer> status = new CompletableFuture<>();
        /** How the stream ended: {@code eos} (END_STREAM), {@code reset <code>}, or {@code closed}. */
        public final CompletableFuture<String> end = new CompletableFuture<>();
        public final StringBuilder body = new StringBuilder();
        /** Body bytes so far (kept in {@link #body} only while {@link #keepBody}). */
        public final AtomicLong bytes = new AtomicLong();
        public volatile boolean keepBody = true;
    }

    /** A connection to {@code server} (TLS and the HTTP/2 preface done) whose streams the test drives. */
    public Channel connection(InetSocketAddress server) throws Exception {
        CompletableFuture<Channel> ready = connecting(server);
        return ready.get(10, TimeUnit.SECONDS);
    }

    /**
     * Connects to {@code server} and returns once TCP is connected (the server may not have answered the TLS
     * handshake yet): the future completes with the connection after the handshake.
     */
    public CompletableFuture<Channel> connecting(InetSocketAddress server) throws Exception {
        return connecting(server, null);
    }

    /** {@link #connecting(InetSocketAddress)}, with {@code frames} as {@link #connectionAnsweringPingsByHand}. */
    public CompletableFuture<Channel> connecting(InetSocketAddress server,
            java.util.concurrent.BlockingQueue<String> frames) throws Exception {
        CompletableFuture<Channel> ready = new CompletableFuture<>();
        open(server, ready, () -> { }, frames);
        return ready;
    }

    /**
     * A connection to {@code server} that describes every connection-level frame it receives to {@code frames}
     * ({@link #describe}), and answers no PING by itself: the test does, with {@link #answerPing}, when it
     * chooses to.
     */
    public Channel connectionAnsweringPingsByHand(InetSocketAddress server,
            java.util.concurrent.BlockingQueue<String> frames) throws Exception {
        CompletableFuture<Channel> ready = new CompletableFuture<>();
        Channel ch = open(server, ready, () -> { }, frames);
        ready.get(10, TimeUnit.SECONDS);
        return ch;
    }

    /** {@code GOAWAY <last stream> <error>}, {@code PING <payload>}, {@code PING-ACK <payload>}, or the frame's name. */
    static String describe(Object frame) {
        if (frame instanceof io.netty.handler.codec.http2.Http2GoAwayFrame g) {
            return "GOAWAY " + g.lastStreamId() + " " + g.errorCode();
        }
        if (frame instanceof io.netty.handler.codec.http2.Http2PingFrame p) {
            return (p.ack() ? "PING-ACK " : "PING ") + p.content();
        }
        return frame instanceof io.netty.handler.codec.http2.Http2Frame f ? f.name() : frame.getClass().getSimpleName();
    }

    /** Sends the PING ACK for {@code payload} on {@code connection}. */
    public static void answerPing(Channel connection, long payload) throws Exception {
        connection.eventLoop().submit(() -> connection.writeAndFlush(
                new io.netty.handler.codec.http2.DefaultHttp2PingFrame(payload, true))).sync();
    }

    /** A new stream on {@code connection}; what it receives goes to {@code seen}. Nothing is sent yet. */
    public static Http2StreamChannel stream(Channel connection, Seen seen) throws Exception {
        return new Http2StreamChannelBootstrap(connection).handler(new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                try {
                    if (msg instanceof Http2HeadersFrame h && !seen.status.isDone()) {
                        seen.status.complete(Integer.parseInt(h.headers().status().toString()));
                        if (h.isEndStream()) {
                            seen.end.complete("eos");
                        }
                    } else if (msg instanceof Http2DataFrame d) {
                        seen.bytes.addAndGet(d.content().readableBytes());
                        if (seen.keepBody) {
                            synchronized (seen.body) {
                                seen.body.append(d.content().toString(StandardCharsets.UTF_8));
                            }
                        }
                        if (d.isEndStream()) {
                            seen.end.complete("eos");
                        }
                    }
                } finally {
                    ReferenceCountUtil.release(msg);
                }
            }

            @Override
            public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                if (evt instanceof Http2ResetFrame r) { // Netty hands a stream its RST_STREAM as an event
                    seen.end.complete("reset " + r.errorCode());
                }
                ctx.fireUserEventTriggered(evt);
            }

            @Override
            public void channelInactive(ChannelHandlerContext ctx) {
                seen.end.complete("closed");
                seen.status.complete(-1);
            }
        }).open().sync().getNow();
    }

    /** Sends {@code headers} (END_STREAM with {@code endStream}) on {@code stream}, then flushes. */
    public static void headers(Http2StreamChannel stream, Http2Headers headers, boolean endStream) throws Exception {
        stream.eventLoop().submit(() -> stream.writeAndFlush(new DefaultHttp2HeadersFrame(headers, endStream)))
                .sync();
    }

    /** Sends {@code headers} and then {@code data} in one DATA frame (END_STREAM with {@code endStream}). */
    public static void headers(Http2StreamChannel stream, Http2Headers headers, String data, boolean endStream)
            throws Exception {
        stream.eventLoop().submit(() -> {
            stream.write(new DefaultHttp2HeadersFrame(headers, false));
            stream.write(new DefaultHttp2DataFrame(Unpooled.copiedBuffer(data, StandardCharsets.UTF_8), endStream));
            stream.flush();
        }).sync();
    }

    /** Sends {@code data} in one DATA frame on {@code stream} (END_STREAM with {@code endStream}). */
    public static void data(Http2StreamChannel stream, String data, boolean endStream) throws Exception {
        stream.eventLoop().submit(() -> stream.writeAndFlush(new DefaultHttp2DataFrame(
                Unpooled.copiedBuffer(data, StandardCharsets.UTF_8), endStream))).sync();
    }

    /** Resets {@code stream} with {@code error}. */
    public static void reset(Http2StreamChannel stream, Http2Error error) throws Exception {
        stream.eventLoop().submit(() -> stream.writeAndFlush(new DefaultHttp2ResetFrame(error))).sync();
    }

    /**
     * TLS and the HTTP/2 client codec to {@code server}; {@code ready} completes after the handshake. With
     * {@code frames}, connection-level frames go there and PINGs are not answered by the codec.
     */
    private Channel open(InetSocketAddress server, CompletableFuture<Channel> ready, Runnable onInactive,
            java.util.concurrent.BlockingQueue<String> frames) throws InterruptedException {
        return new Bootstrap().group(group).channel(NioSocketChannel.class)
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel c) {
                        c.pipeline().addLast(ssl.newHandler(c.alloc()))
                                .addLast(new ChannelInboundHandlerAdapter() {
                                    @Override
                                    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                                        if (evt instanceof SslHandshakeCompletionEvent e) {
                                            if (e.isSuccess()) {
                                                ready.complete(ctx.channel());
                                            } else {
                                                ready.completeExceptionally(e.cause());
                                            }
                                        }
                                        ctx.fireUserEventTriggered(evt);
                                    }

                                    @Override
                                    public void channelInactive(ChannelHandlerContext ctx) {
                                        ready.completeExceptionally(new IllegalStateException("closed"));
                                        onInactive.run();
                                        ctx.fireChannelInactive();
                                    }
                                })
                                .addLast(Http2FrameCodecBuilder.forClient().encoderIgnoreMaxHeaderListSize(true)
                                        .autoAckPingFrame(frames == null).build())
                                .addLast(new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
                        if (frames != null) {
                            c.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                                @Override
                                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                    frames.add(describe(msg));
                                    ReferenceCountUtil.release(msg);
                                }
                            });
                        }
                    }
                }).connect(server).sync().channel();
    }

    public static Http2Headers connect(String authority) {
        return new DefaultHttp2Headers().method("CONNECT").authority(authority);
    }

    @Override
    public void close() {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }
}
