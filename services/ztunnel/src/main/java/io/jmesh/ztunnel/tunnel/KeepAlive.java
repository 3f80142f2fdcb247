package io.jmesh.ztunnel.tunnel;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.DefaultHttp2PingFrame;
import io.netty.handler.codec.http2.Http2PingFrame;
import io.netty.util.ReferenceCountUtil;
import java.time.Duration;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Istio's HBONE keepalive: a PING every interval whatever the traffic, and the connection is dropped, open streams
 * and all, when no PING ACK arrived for the timeout (a vanished peer). Sits after the multiplex handler, where
 * connection-level frames arrive. Peer disappearance is logged at debug: it is routine, not an error. Time is the
 * event loop's ticker, so tests can move it.
 */
final class KeepAlive extends ChannelInboundHandlerAdapter {

    private static final Logger log = LoggerFactory.getLogger(KeepAlive.class);

    private final long intervalNanos;
    private final long timeoutNanos;
    private long lastAckNanos;
    private long nonce;
    private ScheduledFuture<?> task;

    KeepAlive(Duration interval, Duration timeout) {
        this.intervalNanos = interval.toNanos();
        this.timeoutNanos = timeout.toNanos();
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        lastAckNanos = ctx.executor().ticker().nanoTime();
        task = ctx.executor().scheduleAtFixedRate(() -> tick(ctx), intervalNanos, intervalNanos, TimeUnit.NANOSECONDS);
    }

    private void tick(ChannelHandlerContext ctx) {
        if (ctx.executor().ticker().nanoTime() - lastAckNanos > timeoutNanos) {
            log.atDebug().addKeyValue("peer", String.valueOf(ctx.channel().remoteAddress()))
                    .log("hbone connection dropped: no PING answer");
            // now, with its open streams: a graceful close would wait for them, and a vanished peer ends none
            Http2Setup.drop(ctx.channel(), "no PING answer for " + timeoutNanos / 1_000_000 + " ms");
            return;
        }
        ctx.writeAndFlush(new DefaultHttp2PingFrame(++nonce, false));
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof Http2PingFrame ping) {
            if (ping.ack()) {
                lastAckNanos = ctx.executor().ticker().nanoTime();
            }
            ReferenceCountUtil.release(msg);
            return;
        }
        ctx.fireChannelRead(msg);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        cancel();
        ctx.fireChannelInactive();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        cancel();
    }

    private void cancel() {
        if (task != null) {
            task.cancel(false);
        }
    }
}
