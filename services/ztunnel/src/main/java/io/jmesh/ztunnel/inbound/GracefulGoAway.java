package io.jmesh.ztunnel.inbound;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.DefaultHttp2GoAwayFrame;
import io.netty.handler.codec.http2.DefaultHttp2PingFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2PingFrame;
import io.netty.util.ReferenceCountUtil;
import java.time.Duration;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The server's graceful end of an inbound HBONE connection at a drain, in the two steps of RFC 9113 §6.8 (as Istio's
 * ztunnel does through hyper): first a GOAWAY whose last stream is 2^31-1 and a PING, so the peer opens no new stream
 * while the CONNECTs it already sent are still served; then, once the PING is answered (one round trip: whatever the
 * peer sent before it saw the first GOAWAY has arrived) or after {@code ackTimeout}, a GOAWAY naming the last stream
 * really taken, and a graceful close: the connection ends as soon as its last stream does.
 *
 * <p>A single GOAWAY naming the last stream seen at once would refuse a CONNECT crossing it on the wire; a peer
 * that does not resend refused streams (nothing obliges it to) would fail that tunnel. Goes after the multiplex
 * handler, where connection-level frames arrive, and before the keepalive, which sees every other PING.
 */
final class GracefulGoAway extends ChannelInboundHandlerAdapter {

    /** This handler's PING payload; the keepalive's count up from 1. */
    static final long PING_PAYLOAD = 0x6a6d_6573_6867_6f6eL;

    private final long ackTimeoutNanos;
    private ChannelHandlerContext ctx;
    private boolean started;
    private boolean finished;
    private ScheduledFuture<?> timeout;

    GracefulGoAway(Duration ackTimeout) {
        this.ackTimeoutNanos = ackTimeout.toNanos();
    }

    /** Starts the graceful end of {@code connection} (once; on its event loop), if it has this handler. */
    static void begin(Channel connection) {
        connection.eventLoop().execute(() -> {
            GracefulGoAway g = connection.pipeline().get(GracefulGoAway.class);
            if (g != null && connection.isActive()) {
                g.begin();
            }
        });
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    private void begin() {
        if (started) {
            return;
        }
        started = true;
        ctx.write(new DefaultHttp2GoAwayFrame(Http2Error.NO_ERROR).setExtraStreamIds(Integer.MAX_VALUE));
        ctx.writeAndFlush(new DefaultHttp2PingFrame(PING_PAYLOAD, false));
        timeout = ctx.executor().schedule(this::finish, ackTimeoutNanos, TimeUnit.NANOSECONDS);
    }

    private void finish() {
        if (finished) {
            return;
        }
        finished = true;
        if (timeout != null) {
            timeout.cancel(false);
        }
        // Netty's codec fills in the last stream it created; its close then waits for the open streams
        ctx.writeAndFlush(new DefaultHttp2GoAwayFrame(Http2Error.NO_ERROR));
        ctx.channel().close();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (started && msg instanceof Http2PingFrame ping && ping.ack() && ping.content() == PING_PAYLOAD) {
            ReferenceCountUtil.release(msg);
            finish();
            return;
        }
        ctx.fireChannelRead(msg);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (timeout != null) {
            timeout.cancel(false);
        }
        ctx.fireChannelInactive();
    }
}
