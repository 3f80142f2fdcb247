package io.jmesh.ztunnel.tunnel;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayList;
import java.util.List;

/**
 * Keeps what an accepted socket delivers before its relay starts. With autoRead off a socket is still read once
 * when its peer's FIN arrives (epoll's RDHUP): a client that writes and half-closes at once ({@code echo x | socat
 * - TCP:...}) would otherwise lose its bytes and its EOF to the pipeline's tail while the tunnel is being set up.
 * Bounded by what one RDHUP read takes from the kernel; released if the connection ends before the relay.
 */
public final class EarlyInput extends ChannelInboundHandlerAdapter {

    private static final String NAME = "early-input";

    private final List<Object> reads = new ArrayList<>(2);
    private boolean inputShutdown;

    private EarlyInput() {}

    /** Installs the buffer first in {@code ch}'s pipeline (call from its initializer). */
    public static EarlyInput install(Channel ch) {
        EarlyInput e = new EarlyInput();
        ch.pipeline().addFirst(NAME, e);
        return e;
    }

    /** Bytes read so far; the relay replays them first (the list is handed over, not copied). */
    public List<Object> reads() {
        return reads;
    }

    /**
     * On {@code ch}'s event loop: removes the buffer, runs {@code startRelay} (which replays {@link #reads()}),
     * then replays the EOF if one came early.
     */
    public void handOver(Channel ch, Runnable startRelay) {
        if (ch.pipeline().get(NAME) == this) {
            ch.pipeline().remove(this);
        }
        startRelay.run();
        if (inputShutdown && ch.isActive()) {
            ch.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        reads.add(msg);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            inputShutdown = true;
            ReferenceCountUtil.release(evt);
        } else {
            ctx.fireUserEventTriggered(evt);
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        reads.forEach(ReferenceCountUtil::release);
        reads.clear();
        ctx.fireChannelInactive();
    }
}
