package io.jmesh.ztunnel.tunnel;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.util.ReferenceCountUtil;

/**
 * Makes an HBONE stream (an HTTP/2 child channel) a byte stream for the handlers behind it, so a protocol such as
 * TLS can run inside a tunnel (double HBONE): DATA frames in become their content, buffers out become DATA frames.
 * The end of the stream (END_STREAM, trailers or a reset) closes the channel. Nothing is copied; flow control stays
 * the stream's (its window is returned as frames are read).
 */
public final class StreamBytes extends ChannelDuplexHandler {

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof Http2DataFrame f) {
            boolean end = f.isEndStream();
            ByteBuf content = f.content();
            if (content.isReadable()) {
                ctx.fireChannelRead(content); // the frame is its content: the reference goes on
            } else {
                content.release();
            }
            if (end) {
                ctx.close();
            }
            return;
        }
        boolean end = msg instanceof Http2ResetFrame || msg instanceof Http2HeadersFrame h && h.isEndStream();
        ReferenceCountUtil.release(msg);
        if (end) {
            ctx.close();
        }
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        ctx.write(msg instanceof ByteBuf b ? new DefaultHttp2DataFrame(b) : msg, promise);
    }
}
