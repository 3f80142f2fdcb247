package io.jmesh.ztunnel.tunnel;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.handler.codec.http2.Http2Connection;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2LocalFlowController;
import io.netty.handler.codec.http2.Http2Stream;
import java.util.function.LongSupplier;
import java.util.function.ToLongFunction;

/**
 * Keeps less of each stream's data in flight towards us while more than one tunnel of an HBONE connection is sending.
 *
 * <p>Tunnels pooled on one connection are one TCP byte stream: a bulk tunnel may have its whole 4 MiB window in
 * flight, and another tunnel's request arrives behind whatever of it the kernel holds, read only once all of it is
 * decrypted. When this ztunnel is the slower end that queue is megabytes, milliseconds of decryption. So while DATA of
 * more than one stream arrives (a different stream's within {@link #SHARED_SPELL_NANOS}), each stream's window is
 * returned only up to the shared size, and the senders' credit drains to it; once a single stream has sent alone for
 * that long every stream gets the full window back. A connection with one busy stream and idle ones (iperf3's
 * control connection beside its data) keeps the full window. A new stream still has the advertised window
 * (SETTINGS_INITIAL_WINDOW_SIZE) to send before its first refill.
 *
 * <p>The shared size is {@code hbone.sharedStreamWindowBytes} or, on a longer round trip, what keeps 2.5 Gbit/s in
 * flight over it, at most the full window: a pooled connection to a far zone or network keeps its throughput. The
 * round trip is the lowest of the kernel's smoothed RTTs read so far (when sharing starts, and once a second while
 * it lasts), because the queueing this class is about inflates them: on a CPU-bound loopback they read 0.5-14 ms.
 * Without an RTT (no native epoll) the window is left alone. The advertised SETTINGS are unchanged (a receiver returns window when it likes), so any HBONE peer,
 * Istio's ztunnel among them, works with it. Sits between the HTTP/2 codec and the stream multiplexer, on the
 * connection's event loop; per DATA frame it compares a stream id, and reads the clock only on a change of stream or
 * while shared.
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
    /** The window of every receiving stream while shared: the full one when there is no reason to lower it. */
    private int sharedBytes;

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
            seen(ctx.channel(), data.stream().id());
        }
        ctx.fireChannelRead(msg);
    }

    private void seen(Channel ch, int streamId) {
        if (streamId != lastStreamId) {
            boolean other = lastStreamId != 0;
            lastStreamId = streamId;
            if (other) {
                long now = nanoTime.getAsLong();
                lastSwitch = now;
                if (!shared || now - lastRttSample > RTT_SAMPLE_NANOS) {
                    shared = true;
                    lastRttSample = now;
                    long rtt = rttMicros.applyAsLong(ch);
                    if (rtt >= 0 && (minRttMicros < 0 || rtt < minRttMicros)) {
                        minRttMicros = rtt;
                    }
                    sharedBytes = sharedBytes(minRttMicros, sharedFloorBytes, fullBytes);
                }
                // each stream as its DATA comes: a stream sending beside others comes back to it after theirs
                if (sharedBytes < fullBytes) {
                    target(connection.stream(streamId), sharedBytes);
                }
            }
        } else if (shared && nanoTime.getAsLong() - lastSwitch > SHARED_SPELL_NANOS) {
            shared = false;
            if (sharedBytes < fullBytes) {
                forEachActive(fullBytes); // WINDOW_UPDATEs, flushed by the codec when this read completes
            }
        }
    }

    private void forEachActive(int bytes) {
        try {
            connection.forEachActiveStream(s -> {
                target(s, bytes);
                return true;
            });
        } catch (Http2Exception e) {
            throw new IllegalStateException(e); // the visitor throws nothing
        }
    }

    /** Sets how far {@code stream}'s window is refilled; a lower size takes effect as the sender uses its credit. */
    private void target(Http2Stream stream, int bytes) {
        if (stream == null || !stream.state().remoteSideOpen()) {
            return; // receives nothing more: its window is not ours to set (a closed stream has none)
        }
        Http2LocalFlowController flow = connection.local().flowController();
        int delta = bytes - flow.initialWindowSize(stream);
        if (delta != 0) {
            try {
                flow.incrementWindowSize(stream, delta);
            } catch (Http2Exception e) {
                // only past 2^31 - 1 bytes, which the configured windows rule out
                throw new IllegalStateException(e);
            }
        }
    }
}
