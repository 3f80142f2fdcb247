package io.jmesh.ztunnel.pool;

import io.jmesh.core.identity.SpiffeId;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.util.ReferenceCountUtil;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One outbound HBONE connection (mTLS + HTTP/2) that carries up to {@code maxStreams} CONNECT streams. Stream
 * slots are reserved with a CAS before a stream is opened, so concurrent callers never exceed the cap and no lock
 * is taken.
 */
public final class HboneConnection {

    /** A non-200 answer to CONNECT. */
    public static final class StatusException extends RuntimeException {
        private static final long serialVersionUID = 1L;
        private final int status;

        StatusException(int status) {
            super("hbone peer answered " + status, null, false, false);
            this.status = status;
        }

        public int status() {
            return status;
        }
    }

    /**
     * The peer ended a CONNECT stream before answering it: reset it, or went away (GOAWAY) without processing it.
     * {@link #retryable()} when the peer says it did not process the request (a GOAWAY whose last stream is below
     * this one, or RST_STREAM REFUSED_STREAM): it may then be sent again on another connection (RFC 9113, 8.7).
     */
    public static final class UnansweredException extends RuntimeException {
        private static final long serialVersionUID = 1L;
        private final boolean retryable;

        UnansweredException(String message, boolean retryable) {
            super(message, null, false, false);
            this.retryable = retryable;
        }

        public boolean retryable() {
            return retryable;
        }
    }

    private final Channel channel;
    private final Http2FrameCodec codec;
    private final PoolKey key;
    private final String destinationUid;
    private final SpiffeId peer;
    private final int maxStreams;
    private final java.security.cert.X509Certificate[] peerChain;
    private final java.util.List<java.security.cert.X509Certificate> localChain;
    private final AtomicInteger streams = new AtomicInteger();
    private volatile boolean closing;
    private volatile long idleSinceNanos = System.nanoTime();
    /** Where the pool keeps this connection; set once before it is shared. */
    volatile HbonePool.Slot slot;

    HboneConnection(Channel channel, Http2FrameCodec codec, PoolKey key, String destinationUid, SpiffeId peer,
            int maxStreams, java.security.cert.X509Certificate[] peerChain,
            java.util.List<java.security.cert.X509Certificate> localChain) {
        this.peerChain = peerChain;
        this.localChain = localChain;
        this.channel = channel;
        this.codec = codec;
        this.key = key;
        this.destinationUid = destinationUid;
        this.peer = peer;
        this.maxStreams = maxStreams;
    }

    public PoolKey key() {
        return key;
    }

    public SpiffeId peer() {
        return peer;
    }

    public Channel channel() {
        return channel;
    }

    /** The server's chain as presented at the handshake. */
    java.security.cert.X509Certificate[] peerChain() {
        return peerChain;
    }

    /** Our own chain this connection authenticated with. */
    java.util.List<java.security.cert.X509Certificate> localChain() {
        return localChain;
    }

    String destinationUid() {
        return destinationUid;
    }

    int streams() {
        return streams.get();
    }

    /**
     * Open and taking new streams (not retired, no GOAWAY received, the peer allows some), whether or not a slot is
     * free.
     */
    boolean usable() {
        return !closing && channel.isActive() && !codec.connection().goAwayReceived() && remoteLimit() > 0;
    }

    long idleSinceNanos() {
        return idleSinceNanos;
    }

    /** No new streams from now on (GOAWAY received, destination changed, idle, drain). */
    void retire() {
        closing = true;
    }

    /** Reserves a stream slot; false when the connection is full or closing. */
    boolean tryReserve() {
        int cap = Math.min(maxStreams, remoteLimit());
        while (true) {
            int n = streams.get();
            // a GOAWAY retires the connection, but its streams learn of it first and may ask again at once
            if (closing || !channel.isActive() || n >= cap || codec.connection().goAwayReceived()) {
                return false;
            }
            if (streams.compareAndSet(n, n + 1)) {
                if (closing) {
                    // retired (idle sweep, drain) between the check and the reservation: the sweep may have seen no
                    // stream and closed the channel already; give the slot back (closing it if it is the last)
                    release();
                    return false;
                }
                return true;
            }
        }
    }

    /**
     * The peer's {@code SETTINGS_MAX_CONCURRENT_STREAMS} (Netty keeps it as our endpoint's limit: no limit until the
     * peer names one). Zero is a limit like any other (RFC 9113 §6.5.2): no new stream until the peer raises it.
     */
    private int remoteLimit() {
        return codec.connection().local().maxActiveStreams();
    }

    private void release() {
        if (streams.decrementAndGet() == 0) {
            idleSinceNanos = System.nanoTime();
            if (closing) {
                channel.close(); // retired: its last stream just ended
            }
        }
    }

    /**
     * Opens a CONNECT stream on a reserved slot and completes with it once the peer answered 200; the stream's
     * autoRead is off, ready for a relay. The slot is released when the stream closes.
     */
    public Future<Http2StreamChannel> open(Http2Headers headers) {
        return open(headers, null);
    }

    /**
     * As {@link #open(Http2Headers)}; when {@code abandoned} completes before the answer (the application closed
     * its connection), the stream is reset (CANCEL) and the open fails: a peer that never answers must not hold
     * the stream, and its slot, for as long as the HBONE connection lives.
     */
    public Future<Http2StreamChannel> open(Http2Headers headers, io.netty.util.concurrent.Future<?> abandoned) {
        Promise<Http2StreamChannel> p = Promise.promise();
        new Http2StreamChannelBootstrap(channel)
                .option(io.netty.channel.ChannelOption.WRITE_BUFFER_WATER_MARK, io.jmesh.ztunnel.tunnel.NetTransport.STREAM_WATER_MARK)
                .handler(new io.netty.channel.ChannelInitializer<Http2StreamChannel>() {
            @Override
            protected void initChannel(Http2StreamChannel ch) {
                ch.pipeline().addLast(WAITER, new ResponseWaiter(p));
            }
        }).open().addListener(f -> {
            if (!f.isSuccess()) {
                release();
                p.tryFail(f.cause());
                return;
            }
            Http2StreamChannel s = (Http2StreamChannel) f.getNow();
            if (abandoned != null) {
                abandoned.addListener(x -> s.eventLoop().execute(() -> {
                    if (p.tryFail(new UnansweredException("the application closed its connection before the peer"
                            + " answered the CONNECT", false))) {
                        s.close(); // RST_STREAM(CANCEL): the peer stops, the slot is free
                    }
                }));
            }
            boolean[] sent = new boolean[1]; // the stream's event loop only
            s.closeFuture().addListener(x -> {
                release();
                if (!p.future().isComplete()) { // the usual case is a tunnel's end, long after the answer
                    // never sent (Netty refuses a stream beyond a limit the peer lowered after our slot was
                    // reserved, or the connection went first): the peer saw nothing, another connection may serve it
                    p.tryFail(sent[0] ? new UnansweredException("hbone stream closed before the peer answered", false)
                            : new UnansweredException("hbone stream ended before its CONNECT was sent", true));
                }
            });
            s.writeAndFlush(new DefaultHttp2HeadersFrame(headers, false)).addListener(w -> {
                if (w.isSuccess()) {
                    sent[0] = true;
                } else {
                    p.tryFail(new UnansweredException("hbone CONNECT not sent: " + w.cause().getMessage(), true));
                    s.close();
                }
            });
        });
        return p.future();
    }

    /**
     * Call once a relay is attached to a stream from {@link #open}: hands over DATA that arrived together with
     * the 200, then the peer's RST_STREAM if one came before the relay.
     */
    public static void releaseEarlyData(Http2StreamChannel stream) {
        if (stream.pipeline().get(WAITER) != null) {
            stream.pipeline().remove(WAITER);
        }
        if (stream.hasAttr(RESET_AFTER_ANSWER)) { // rare: no attribute is made for the usual stream
            io.netty.handler.codec.http2.Http2ResetFrame r = stream.attr(RESET_AFTER_ANSWER).getAndSet(null);
            if (r != null) {
                // after the early data, as it came; the relay ends the tunnel as the reset says (an error code fails
                // it), whether or not the stream has closed meanwhile
                stream.pipeline().fireChannelRead(r);
            }
        }
    }

    private static final String WAITER = "hbone-response";
    /** The peer's RST_STREAM after its 200 and before {@link #releaseEarlyData}. */
    private static final io.netty.util.AttributeKey<io.netty.handler.codec.http2.Http2ResetFrame> RESET_AFTER_ANSWER =
            io.netty.util.AttributeKey.valueOf("hbone.resetAfterAnswer");

    /**
     * Completes the promise on the response HEADERS; DATA arriving after it is held for the relay, and so is the
     * END_STREAM of a 200 that carries one (as an empty DATA frame) and a reset that follows the 200.
     */
    private static final class ResponseWaiter extends ChannelInboundHandlerAdapter {
        private final Promise<Http2StreamChannel> promise;
        private boolean answered;
        private final java.util.List<Object> early = new java.util.ArrayList<>(2);

        ResponseWaiter(Promise<Http2StreamChannel> promise) {
            this.promise = promise;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (answered) {
                early.add(msg);
                return;
            }
            if (msg instanceof Http2HeadersFrame h) {
                CharSequence status = h.headers().status();
                if (status != null && "200".contentEquals(status)) {
                    answered = true;
                    ctx.channel().config().setAutoRead(false);
                    if (h.isEndStream()) {
                        // the peer sends nothing: the relay half-closes the application once it runs
                        early.add(new io.netty.handler.codec.http2.DefaultHttp2DataFrame(true));
                    }
                    promise.tryComplete((Http2StreamChannel) ctx.channel());
                } else {
                    int code;
                    try {
                        code = status == null ? 0 : Integer.parseInt(status.toString());
                    } catch (NumberFormatException e) {
                        code = 0;
                    }
                    promise.tryFail(new StatusException(code));
                    ctx.close();
                }
                return;
            }
            ReferenceCountUtil.release(msg);
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            // Netty hands a child stream its RST_STREAM, and a GOAWAY that leaves it unprocessed, as events
            if (evt instanceof io.netty.handler.codec.http2.Http2ResetFrame r && answered) {
                // kept on the channel: a stream that closes drops its handlers, this one too, before the relay
                ctx.channel().attr(RESET_AFTER_ANSWER).set(r);
            } else if (evt instanceof io.netty.handler.codec.http2.Http2ResetFrame r) {
                var code = io.netty.handler.codec.http2.Http2Error.valueOf(r.errorCode());
                promise.tryFail(new UnansweredException("hbone peer reset the stream before answering: " + code,
                        code == io.netty.handler.codec.http2.Http2Error.REFUSED_STREAM));
            } else if (evt instanceof io.netty.handler.codec.http2.Http2GoAwayFrame g) {
                promise.tryFail(new UnansweredException("hbone peer went away (GOAWAY "
                        + io.netty.handler.codec.http2.Http2Error.valueOf(g.errorCode())
                        + ") without processing the stream", true));
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void handlerRemoved(ChannelHandlerContext ctx) {
            if (early.isEmpty()) {
                return;
            }
            for (Object m : early) {
                ctx.fireChannelRead(m);
            }
            early.clear();
            ctx.fireChannelReadComplete();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            early.forEach(ReferenceCountUtil::release);
            early.clear();
            ctx.fireChannelInactive();
        }
    }
}
