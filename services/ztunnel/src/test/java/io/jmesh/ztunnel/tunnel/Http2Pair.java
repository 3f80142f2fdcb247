package io.jmesh.ztunnel.tunnel;

import io.jmesh.ztunnel.ZtunnelConfig;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * An HBONE server connection as ztunnel builds it (its HTTP/2 codec, multiplexer, keepalive and error handler) on a
 * frozen clock, and a plain HTTP/2 client, back to back in memory: bytes cross when {@link #exchange} is called, so
 * a test decides when the client stops answering.
 */
final class Http2Pair implements AutoCloseable {

    static final Duration PING_INTERVAL = Duration.ofSeconds(10);
    static final Duration PING_TIMEOUT = Duration.ofSeconds(20);

    final EmbeddedChannel server = new EmbeddedChannel();
    final EmbeddedChannel client = new EmbeddedChannel();
    /** The server side of every stream the client opened. */
    final List<Http2StreamChannel> serverStreams = new ArrayList<>();

    /** What Netty's codec refuses by itself is not what these tests look at. */
    private static final Http2Setup.ServerRefusals NO_REFUSALS = new Http2Setup.ServerRefusals() {
        @Override
        public void headersTooLarge(io.netty.channel.Channel ch, int streamId) {}

        @Override
        public void connectionError(io.netty.channel.Channel ch, io.netty.handler.codec.http2.Http2Error error,
                String message) {}

        @Override
        public void streamError(io.netty.channel.Channel ch, int streamId,
                io.netty.handler.codec.http2.Http2Error error, String message) {}
    };

    Http2Pair() {
        ZtunnelConfig.Hbone h = new ZtunnelConfig.Hbone(4 << 20, 16 << 20, 1 << 20, 200, 64 << 10, PING_INTERVAL,
                PING_TIMEOUT, Duration.ofSeconds(10), 1000, 0);
        server.freezeTime();
        server.pipeline().addLast(Http2Setup.serverCodec(h, NO_REFUSALS),
                new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
                    @Override
                    protected void initChannel(Http2StreamChannel s) {
                        serverStreams.add(s);
                    }
                }), Http2Setup.keepAlive(h), QuietErrors.INSTANCE);
        client.pipeline().addLast(Http2FrameCodecBuilder.forClient().build(),
                new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
        exchange();
    }

    /** Puts {@code handler} right after the server's HTTP/2 codec, as ztunnel puts the handlers that watch its frames. */
    void addAfterServerCodec(io.netty.channel.ChannelHandler handler) {
        var codec = server.pipeline().context(io.netty.handler.codec.http2.Http2FrameCodec.class);
        server.pipeline().addAfter(codec.name(), null, handler);
    }

    /** Moves bytes both ways until neither side has more to send. */
    void exchange() {
        boolean moved = true;
        while (moved) {
            moved = false;
            client.runPendingTasks();
            server.runPendingTasks();
            for (ByteBuf b; (b = client.readOutbound()) != null; moved = true) {
                server.writeInbound(b);
            }
            for (ByteBuf b; (b = server.readOutbound()) != null; moved = true) {
                client.writeInbound(b);
            }
        }
    }

    /** Opens a client stream with a CONNECT and returns once the server has it open too. */
    Http2StreamChannel openStream() {
        var opened = new Http2StreamChannelBootstrap(client).handler(new ChannelInboundHandlerAdapter()).open();
        client.runPendingTasks();
        Http2StreamChannel stream = opened.getNow();
        stream.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().method("CONNECT")
                .authority("127.0.0.1:8080"), false));
        exchange();
        return stream;
    }

    /** Moves the server's clock on by {@code d} and runs what fell due (the keepalive's ticks, a scheduled close). */
    void advanceServer(Duration d) {
        server.advanceTimeBy(d.toNanos(), TimeUnit.NANOSECONDS);
        server.runScheduledPendingTasks();
        server.runPendingTasks();
        server.runScheduledPendingTasks();
    }

    @Override
    public void close() {
        server.finishAndReleaseAll();
        client.finishAndReleaseAll();
    }
}
