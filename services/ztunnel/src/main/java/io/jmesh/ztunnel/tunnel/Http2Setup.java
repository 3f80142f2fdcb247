package io.jmesh.ztunnel.tunnel;

import io.jmesh.ztunnel.ZtunnelConfig;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame;
import io.netty.handler.codec.http2.Http2CodecUtil;
import io.netty.handler.codec.http2.Http2ConnectionDecoder;
import io.netty.handler.codec.http2.Http2ConnectionEncoder;
import io.netty.handler.codec.http2.Http2ConnectionHandler;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2Stream;
import io.netty.util.AttributeKey;

/**
 * Istio's HTTP/2 parameters for HBONE on Netty's codec: 4 MiB stream window, 16 MiB connection window, 1 MiB
 * frames, 200 streams on the server, header list limits, no server push, and flood protections tuned for
 * tunnels (many small DATA frames and routine RST(CANCEL) are normal, so only the rapid-reset limit is raised).
 */
public final class Http2Setup {

    /** Why {@link #drop} dropped a connection; the relays of its streams put it in their access log. */
    static final AttributeKey<String> DROPPED = AttributeKey.valueOf("hbone.dropped");

    /** Client's advertised header list limit (Istio: 16 KiB). */
    static final int CLIENT_MAX_HEADER_LIST = 16 * 1024;

    private Http2Setup() {}

    /**
     * Refusals Netty's HTTP/2 server codec makes by itself, before any stream handler sees the stream or the
     * connection: handed here so they are logged and counted like every other refusal.
     */
    public interface ServerRefusals {
        /** Stream {@code streamId}'s header block exceeded SETTINGS_MAX_HEADER_LIST_SIZE: answered 431, reset. */
        void headersTooLarge(Channel ch, int streamId);

        /** The peer broke the protocol: the connection ends with GOAWAY {@code error}. At most once a connection. */
        void connectionError(Channel ch, Http2Error error, String message);

        /**
         * The peer broke the protocol on stream {@code streamId} only (a header Netty's validation refuses, DATA on a
         * stream the peer had ended...): the stream is reset, the connection and its other streams go on. Not told
         * for a frame on a stream that is already gone, which is what a reset races with.
         */
        void streamError(Channel ch, int streamId, Http2Error error, String message);
    }

    public static Http2FrameCodec serverCodec(ZtunnelConfig.Hbone h, ServerRefusals refusals) {
        Http2Settings s = Http2Settings.defaultSettings()
                .initialWindowSize(h.streamWindowBytes())
                .maxFrameSize(h.maxFrameBytes())
                .maxConcurrentStreams(h.serverMaxConcurrentStreams())
                .maxHeaderListSize(h.maxHeaderListBytes());
        return new ServerCodecBuilder(refusals)
                .initialSettings(s)
                .autoAckPingFrame(true)
                .validateHeaders(true)
                .decoderEnforceMaxRstFramesPerWindow(h.maxRstFramesPerSecond(), 1)
                .encoderEnforceMaxRstFramesPerWindow(0, 0)
                .gracefulShutdownTimeoutMillis(-1)
                .build();
    }

    public static Http2FrameCodec clientCodec(ZtunnelConfig.Hbone h) {
        Http2Settings s = Http2Settings.defaultSettings()
                .initialWindowSize(h.streamWindowBytes())
                .maxFrameSize(h.maxFrameBytes())
                .pushEnabled(false)
                .maxHeaderListSize(CLIENT_MAX_HEADER_LIST);
        return Http2FrameCodecBuilder.forClient()
                .initialSettings(s)
                .autoAckPingFrame(true)
                .validateHeaders(true)
                .decoderEnforceMaxRstFramesPerWindow(h.maxRstFramesPerSecond(), 1)
                .encoderEnforceMaxRstFramesPerWindow(0, 0)
                .gracefulShutdownTimeoutMillis(-1)
                .build();
    }

    /**
     * Drops an HBONE connection now: GOAWAY, then closed without waiting for its open streams, which end as failures
     * ({@code reason} in their access log; their application sockets are reset). For a peer that is gone or may no
     * longer be talked to: no PING answer, a connection error, its workload replaced, its certificate revoked. A
     * plain {@code close()} is graceful instead: the codecs are built without a shutdown timeout, so Netty's HTTP/2
     * handler sends GOAWAY and then waits for every open stream (a drain bounds that with its own deadline).
     */
    public static void drop(Channel connection, String reason) {
        if (!connection.eventLoop().inEventLoop()) {
            connection.eventLoop().execute(() -> drop(connection, reason));
            return;
        }
        connection.attr(DROPPED).setIfAbsent(reason);
        Http2ConnectionHandler h2 = connection.pipeline().get(Http2ConnectionHandler.class);
        if (h2 != null) {
            h2.gracefulShutdownTimeoutMillis(0);
        }
        connection.close();
    }

    /**
     * Puts {@link SharedStreamWindow} after the HTTP/2 codec {@code "h2"} of {@code ch}'s pipeline, so that the windows
     * of an HBONE connection's streams are lowered while more than one of them sends; nothing when
     * {@code hbone.sharedStreamWindowBytes} is 0 or not below the stream window (off).
     */
    public static void paceSharedStreams(Channel ch, ZtunnelConfig.Hbone h) {
        if (h.sharedStreamWindowBytes() > 0 && h.sharedStreamWindowBytes() < h.streamWindowBytes()) {
            Http2FrameCodec codec = ch.pipeline().get(Http2FrameCodec.class);
            ch.pipeline().addAfter("h2", "window", new SharedStreamWindow(codec.connection(), h.streamWindowBytes(),
                    h.sharedStreamWindowBytes()));
        }
    }

    /** Raises the connection-level receive window from the protocol's 64 KiB to the configured size. */
    public static void growConnectionWindow(Channel ch, ZtunnelConfig.Hbone h) {
        int delta = h.connectionWindowBytes() - 65_535;
        if (delta > 0) {
            ch.writeAndFlush(new DefaultHttp2WindowUpdateFrame(delta));
        }
    }

    /** The PING keepalive handler; goes after the multiplex handler, where connection-level frames arrive. */
    public static ChannelHandler keepAlive(ZtunnelConfig.Hbone h) {
        return new KeepAlive(h.pingInterval(), h.pingTimeout());
    }

    /** Netty's server codec builder, building a {@link ServerCodec}. */
    private static final class ServerCodecBuilder extends Http2FrameCodecBuilder {
        private final ServerRefusals refusals;

        ServerCodecBuilder(ServerRefusals refusals) {
            this.refusals = refusals;
            server(true);
        }

        @Override
        protected Http2FrameCodec build(Http2ConnectionDecoder decoder, Http2ConnectionEncoder encoder,
                Http2Settings initialSettings) {
            Http2FrameCodec codec = new ServerCodec(encoder, decoder, initialSettings, decoupleCloseAndGoAway(),
                    flushPreface(), refusals);
            codec.gracefulShutdownTimeoutMillis(gracefulShutdownTimeoutMillis());
            return codec;
        }
    }

    /**
     * Netty's codec, reporting the refusals it answers itself (the 431 for an oversized header block, a GOAWAY for a
     * protocol error, an RST_STREAM for a protocol error on one stream): only on those error paths, nothing per frame.
     */
    private static final class ServerCodec extends Http2FrameCodec {
        private final ServerRefusals refusals;
        private boolean connectionErrorReported;
        /** Set when the stream error being handled was answered 431 (reported as such, not as a stream error). */
        private boolean answered431;

        ServerCodec(Http2ConnectionEncoder encoder, Http2ConnectionDecoder decoder, Http2Settings initialSettings,
                boolean decoupleCloseAndGoAway, boolean flushPreface, ServerRefusals refusals) {
            super(encoder, decoder, initialSettings, decoupleCloseAndGoAway, flushPreface);
            this.refusals = refusals;
        }

        @Override
        protected void handleServerHeaderDecodeSizeError(ChannelHandlerContext ctx, Http2Stream stream) {
            answered431 = true;
            refusals.headersTooLarge(ctx.channel(), stream.id());
            super.handleServerHeaderDecodeSizeError(ctx, stream); // the 431
        }

        /**
         * Every error the codec handles passes here, and Netty's {@code onStreamError} is final in
         * {@link Http2FrameCodec}: stream errors the peer caused are picked out here. Netty then resets the stream
         * (for a live stream, through its child channel: {@code Http2FrameStreamException}).
         */
        @Override
        public void onError(ChannelHandlerContext ctx, boolean outbound, Throwable cause) {
            // outbound: one of our own writes failed, no refusal of the peer
            Http2Exception e = outbound ? null : Http2CodecUtil.getEmbeddedHttp2Exception(cause);
            if (e instanceof Http2Exception.StreamException se) {
                // decided before Netty handles it: answering a 431 may create the stream
                boolean report = refusable(se.streamId());
                answered431 = false;
                super.onError(ctx, false, cause);
                if (report && !answered431) {
                    refusals.streamError(ctx.channel(), se.streamId(), se.error(), String.valueOf(se.getMessage()));
                }
            } else if (e instanceof Http2Exception.CompositeStreamException c) {
                for (Http2Exception.StreamException se : c) {
                    if (refusable(se.streamId())) {
                        refusals.streamError(ctx.channel(), se.streamId(), se.error(),
                                String.valueOf(se.getMessage()));
                    }
                }
                super.onError(ctx, false, cause);
            } else {
                super.onError(ctx, outbound, cause);
            }
        }

        /**
         * Whether a stream error on {@code streamId} is the peer's doing: the stream is open, or it never existed (a
         * new stream refused while its HEADERS were decoded). A frame for a stream that existed and is gone is most
         * likely one that crossed our own RST_STREAM (a tunnel's end): Netty answers it, and it is not counted.
         */
        private boolean refusable(int streamId) {
            return connection().stream(streamId) != null || !connection().streamMayHaveExisted(streamId);
        }

        @Override
        protected void onConnectionError(ChannelHandlerContext ctx, boolean outbound, Throwable cause,
                Http2Exception http2Ex) {
            // outbound: one of our own writes failed, no refusal of the peer. Once: a closing connection may still
            // decode the rest of its last read
            if (!outbound && !connectionErrorReported) {
                connectionErrorReported = true;
                refusals.connectionError(ctx.channel(), http2Ex != null ? http2Ex.error() : Http2Error.INTERNAL_ERROR,
                        String.valueOf(cause.getMessage()));
            }
            super.onConnectionError(ctx, outbound, cause, http2Ex);
        }
    }
}
