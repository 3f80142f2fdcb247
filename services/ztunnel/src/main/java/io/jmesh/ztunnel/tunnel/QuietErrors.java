package io.jmesh.ztunnel.tunnel;

import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Last handler of an HBONE connection's pipeline: errors that reach it (a peer's TLS alert, a reset socket) were
 * already counted and logged once where they mattered, so they drop the connection, open streams too, with a
 * debug line instead of Netty's stack trace; connection-level frames nobody consumed (GOAWAY on the server side) are
 * released.
 */
@ChannelHandler.Sharable
public final class QuietErrors extends ChannelInboundHandlerAdapter {

    public static final QuietErrors INSTANCE = new QuietErrors();
    private static final Logger log = LoggerFactory.getLogger(QuietErrors.class);

    private QuietErrors() {}

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ReferenceCountUtil.release(msg);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.atDebug().addKeyValue("peer", String.valueOf(ctx.channel().remoteAddress()))
                .log("hbone connection error: {}", cause.toString());
        // a broken connection carries no stream to its end: close it now rather than wait for them
        Http2Setup.drop(ctx.channel(), "connection error: " + cause);
    }
}
