package io.jmesh.ztunnel.tunnel;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2SettingsFrame;
import io.netty.handler.codec.http2.Http2Connection;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2LocalFlowController;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2SettingsAckFrame;
import java.util.function.LongSupplier;
import java.util.function.ToLongFunction;

/**
 * Keeps less of each stream's data in flight towards us while more than one tunnel of an HBONE connection is sending.
 *
 * <p>Tunnels pooled on one connection are one TCP byte stream: a bulk tunnel may have its whole 4 MiB window in
 * flight, and another tunnel's request arrives behind whatever of it the kernel holds, read only once all of it is
 * decrypted. When this ztunnel is the slower end that queue is megabytes, milliseconds of decryption. So while DATA of
 * more than one stream arrives (a different stream's within {@link #SHARED_SPELL_NANOS}), the stream window this end
 * announces (SETTINGS_INITIAL_WINDOW_SIZE) is the shared size: the peer takes the difference off every open stream's
 * credit at once and opens new streams with the shared size, so a transfer starting beside others does not send its
 * first 4 MiB unasked. Once a single stream has sent alone for that long the full window is announced again, and
 * every stream's credit grows back by the difference. A connection with one busy stream and idle ones (iperf3's
 * control connection beside its data) keeps the full window.
 *
 * <p>The shared size is {@code hbone.sharedStreamWindowBytes} or, on a longer round trip, what keeps 2.5 Gbit/s in
 * flight over it, at most the full window: a pooled connection to a far zone or network keeps its throughput. The
 * round trip is the lowest of the kernel's smoothed RTTs read so far (when sharing starts, and once a second while
 * it lasts), because the queueing this class is about inflates them: on a CPU-bound loopback they read 0.5-14 ms.
 * Without an RTT (no native epoll) the window is left alone. Changing SETTINGS mid-connection is plain HTTP/2 that
 * every peer must follow (Istio's ztunnel through hyper's h2, Node.js through nghttp2); what differs from Istio is
 * only that ours changes. Sits between the HTTP/2 codec and the stream multiplexer, on the connection's event loop;
 * per DATA frame it compares a stream id, and reads the clock only on a change of stream or while shared; a SETTINGS
 * frame goes out at most when a spell starts or ends, or the round trip read falls.
 */
final class SharedStreamWindow extends ChannelInboundHandlerAdapter {

    /** How long after another stream's last DATA the connection still counts as shared. */
    static final long SHARED_SPELL_NANOS = 100_000_000L;
    /** Bytes per second a shared stream may still have in flight over the connection's round trip: 2.5 Gbit/s. */
    static final long KEPT_RATE = 312_500_000L;
    /** How often the connection's round-trip time is read again while it stays shared. */
    static final long RTT_SAMPLE_NANOS = 1_000_000_000L;

    private final Http2Connection connection;
    private final int fullBytes;
    private final int sharedFloorBytes;
    private final LongSupplier nanoTime;
    private final ToLongFunction<Channel> rttMicros;
    private int lastStreamId;
    private long lastSwitch;
    private boolean shared;
    /** The lowest of the kernel's smoothed round-trip times read so far: queueing inflates the others. */
    private long minRttMicros = -1;
    private long lastRttSample;
    /** The stream window the peer was last told of: the full one, or the shared size while shared. */
    private int advertisedBytes;

    SharedStreamWindow(Http2Connection connection, int fullBytes, int sharedFloorBytes) {
        this(connection, fullBytes, sharedFloorBytes, System::nanoTime, SharedStreamWindow::kernelRttMicros);
    }

    /** With a clock and a round-trip source of the test's. */
    SharedStreamWindow(Http2Connection connection, int fullBytes, int sharedFloorBytes, LongSupplier nanoTime,
            ToLongFunction<Channel> rttMicros) {
        this.connection = connection;
        this.fullBytes = fullBytes;
        this.sharedFloorBytes = sharedFloorBytes;
        this.nanoTime = nanoTime;
        this.rttMicros = rttMicros;
        this.advertisedBytes = fullBytes;
    }

    /** The kernel's smoothed round-trip time of {@code ch}'s TCP connection in microseconds; -1 if unknown. */
    static long kernelRttMicros(Channel ch) {
        return ch instanceof EpollSocketChannel socket ? socket.tcpInfo().rtt() : -1;
    }

    /**
     * The window of a receiving stream while its connection is shared: {@code floorBytes}, or what keeps {@link
     * #KEPT_RATE} in flight over {@code rttMicros} if more, at most {@code fullBytes}; {@code fullBytes} when the round
     * trip is unknown (negative).
     */
    static int sharedBytes(long rttMicros, int floorBytes, int fullBytes) {
        if (rttMicros < 0) {
            return fullBytes;
        }
        long kept = rttMicros * KEPT_RATE / 1_000_000L;
        return (int) Math.min(fullBytes, Math.max(floorBytes, kept));
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof Http2DataFrame data && data.stream() != null) {
            seen(ctx, data.stream().id());
        } else if (msg instanceof Http2SettingsAckFrame) {
            // on every acknowledgement, not counted against ours: one for the codec's first SETTINGS may come late
            refillWhereDue();
        }
        ctx.fireChannelRead(msg);
    }

    private void seen(ChannelHandlerContext ctx, int streamId) {
        if (streamId != lastStreamId) {
            boolean other = lastStreamId != 0;
            lastStreamId = streamId;
            if (other) {
                long now = nanoTime.getAsLong();
                lastSwitch = now;
                if (!shared || now - lastRttSample > RTT_SAMPLE_NANOS) {
                    shared = true;
                    lastRttSample = now;
                    long rtt = rttMicros.applyAsLong(ctx.channel());
                    if (rtt >= 0 && (minRttMicros < 0 || rtt < minRttMicros)) {
                        minRttMicros = rtt;
                    }
                    advertise(ctx, sharedBytes(minRttMicros, sharedFloorBytes, fullBytes));
                }
            }
        } else if (shared && nanoTime.getAsLong() - lastSwitch > SHARED_SPELL_NANOS) {
            shared = false;
            advertise(ctx, fullBytes);
        }
    }

    /**
     * Announces {@code bytes} as every stream's window (SETTINGS_INITIAL_WINDOW_SIZE), unless it already is. The peer
     * moves each open stream's credit by the difference at once (below zero, if need be: RFC 9113 §6.9.2) and opens
     * new streams with it; Netty's codec applies it to its own view when the peer acknowledges, tolerating the DATA
     * already under way, and from then on returns window to each stream up to the new size.
     */
    private void advertise(ChannelHandlerContext ctx, int bytes) {
        if (bytes != advertisedBytes) {
            advertisedBytes = bytes;
            ctx.writeAndFlush(new DefaultHttp2SettingsFrame(new Http2Settings().initialWindowSize(bytes)));
        }
    }

    /**
     * Once the peer has acknowledged a new size, the codec has moved every stream's window by the difference, but it
     * returns window only as the application consumes DATA: a stream whose DATA was all consumed before, and whose
     * sender's credit the smaller size took below zero, would get none and wait forever. So each stream is checked
     * for a refill here, as if it had just consumed. Acknowledgements are rare (one per SETTINGS this end sends).
     */
    private void refillWhereDue() {
        Http2LocalFlowController flow = connection.local().flowController();
        try {
            connection.forEachActiveStream(stream -> {
                if (stream.state().remoteSideOpen()) {
                    flow.incrementWindowSize(stream, 0); // sends the WINDOW_UPDATE if the window is below half
                }
                return true;
            });
        } catch (Http2Exception e) {
            throw new IllegalStateException(e); // a zero increment never overflows
        }
    }
}
