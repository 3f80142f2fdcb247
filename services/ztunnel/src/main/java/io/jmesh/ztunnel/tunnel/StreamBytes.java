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
import java.util.concurrent.TimeUnit;

/**
 * Makes an HBONE stream (an HTTP/2 child channel) a byte stream for the handlers behind it, so a protocol such as
 * TLS can run inside a tunnel (double HBONE): DATA frames in become their content, buffers out become DATA frames.
 * Nothing is copied; flow control stays the stream's (its window is returned as frames are read).
 *
 * <p>The stream ends the way a TCP connection would: closing the byte stream sends END_STREAM, and the channel
 * closes once the peer's END_STREAM has arrived too (or after {@link #END_GRACE_SECONDS}, with a reset). Closing
 * the stream channel outright would reset every tunnel (RST_STREAM CANCEL), and HTTP/2 servers count resets: nghttp2
 * (Node.js) sends GOAWAY once a connection's resets outrun 33 a second after a burst of 1,000 (its "rapid reset"
 * guard), Envoy closes connections where most streams end in early resets. An east-west gateway would then drop
 * the shared outer connection, and the tunnels opening on it with it. The peer's END_STREAM, trailers or reset
 * close the channel at once, as a TCP EOF closes a connection (after our END_STREAM, so neither side keeps a
 * half-open stream).
 */
public final class StreamBytes extends ChannelDuplexHandler {

    /** How long a closed byte stream waits for the peer's END_STREAM before it resets the stream instead. */
    static final long END_GRACE_SECONDS = 5;

    private boolean endSent;
    private boolean endReceived;

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
                peerEnded(ctx, false);
            }
            return;
        }
        boolean reset = msg instanceof Http2ResetFrame;
        boolean end = reset || msg instanceof Http2HeadersFrame h && h.isEndStream();
        ReferenceCountUtil.release(msg);
        if (end) {
            peerEnded(ctx, reset);
        }
    }

    /**
     * The peer has sent its last byte: for the protocol inside, the transport is gone (as a TCP EOF would be). Our
     * half ends too and the channel closes under the handlers behind, which see it inactive: closing through them
     * would wait for their own orderly goodbye (an HTTP/2 codec waits for its streams), which cannot come any more.
     * A reset stream has no half left to end.
     */
    private void peerEnded(ChannelHandlerContext ctx, boolean reset) {
        endReceived = true;
        if (!endSent && !reset && ctx.channel().isActive()) {
            ctx.writeAndFlush(new DefaultHttp2DataFrame(true));
        }
        endSent = true;
        ctx.close();
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        ctx.write(msg instanceof ByteBuf b ? new DefaultHttp2DataFrame(b) : msg, promise);
    }

    @Override
    public void close(ChannelHandlerContext ctx, ChannelPromise promise) {
        if (!endSent && ctx.channel().isActive()) {
            endSent = true;
            ctx.writeAndFlush(new DefaultHttp2DataFrame(true));
        }
        if (endReceived || !ctx.channel().isActive()) {
            ctx.close(promise); // both halves ended: no reset goes out
            return;
        }
        // wait for the peer's END_STREAM (channelRead closes then); a peer that never ends its half is reset
        var reset = ctx.executor().schedule(() -> {
            if (ctx.channel().isOpen()) {
                ctx.close(promise);
            }
        }, END_GRACE_SECONDS, TimeUnit.SECONDS);
        ctx.channel().closeFuture().addListener(f -> {
            reset.cancel(false);
            promise.trySuccess();
        });
    }
}
