package io.jmesh.ztunnel.tunnel;

import io.jmesh.ztunnel.ZtunnelConfig;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2Settings;

/**
 * Istio's HTTP/2 parameters for HBONE on Netty's codec: 4 MiB stream window, 16 MiB connection window, 1 MiB
 * frames, 200 streams on the server, header list limits, no server push, and flood protections tuned for
 * tunnels (many small DATA frames and routine RST(CANCEL) are normal, so only the rapid-reset limit is raised).
 */
public final class Http2Setup {

    /** Client's advertised header list limit (Istio: 16 KiB). */
    static final int CLIENT_MAX_HEADER_LIST = 16 * 1024;

    private Http2Setup() {}

    public static Http2FrameCodec serverCodec(ZtunnelConfig.Hbone h) {
        Http2Settings s = Http2Settings.defaultSettings()
                .initialWindowSize(h.streamWindowBytes())
                .maxFrameSize(h.maxFrameBytes())
                .maxConcurrentStreams(h.serverMaxConcurrentStreams())
                .maxHeaderListSize(h.maxHeaderListBytes());
        return Http2FrameCodecBuilder.forServer()
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
}
