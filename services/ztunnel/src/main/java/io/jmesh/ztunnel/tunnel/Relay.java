package io.jmesh.ztunnel.tunnel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.channel.unix.Errors;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.Http2CodecUtil;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.ReferenceCountUtil;
import io.prometheus.metrics.core.datapoints.CounterDataPoint;
import java.io.EOFException;
import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.NotYetConnectedException;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Moves bytes between two channels without copying: a TCP socket and an HBONE stream (an HTTP/2 child channel),
 * or two TCP sockets (passthrough, plaintext inbound). Buffers read on one side are written to the other as they
 * are ({@link ByteBuf} ↔ {@link Http2DataFrame} content).
 *
 * <p>Backpressure: when the receiving side stops being writable (TCP send buffer above its high-water mark, or
 * the HTTP/2 stream's flow-control window used up) the sending side stops reading (autoRead off) until the
 * receiver becomes writable again. An HTTP/2 stream returns window to its peer only as its frames are read, so a
 * slow TCP reader holds the remote sender to the 4 MiB stream window.
 *
 * <p>Half-close: TCP EOF ↔ DATA with END_STREAM; RST_STREAM CANCEL or NO_ERROR counts as EOF, any other reset as
 * an error, and so does a stream cut off by its HTTP/2 connection (dropped, or gone) before both of its halves
 * ended. A tunnel whose stream ends in error resets its TCP socket (SO_LINGER 0) instead of sending FIN, so the
 * application can tell a cut-off transfer from a complete one (RFC 9113, 8.5). A socket the application reset or
 * left (connection reset, broken pipe, not connected, an unexpected EOF) ends its side as cleanly as an EOF, as
 * Istio's copy ignores those errors: an application that closes with a reset is no failed connection. Each side's
 * state is only touched on its own event loop.
 *
 * <p>Bytes are counted as they pass: each read adds its size to that direction's counter (a series the caller
 * resolved once), so metrics show a connection's traffic while it is open; the listener gets the totals at the end.
 */
public final class Relay {

    private static final Logger log = LoggerFactory.getLogger(Relay.class);

    /** Told once, when both channels have closed. */
    public interface Listener {
        /**
         * @param aToB bytes read from {@code a} and written to {@code b}
         * @param bToA bytes read from {@code b} and written to {@code a}
         * @param error the first error (null for a clean close)
         */
        void closed(long aToB, long bToA, String error);
    }

    private final Side sideA;
    private final Side sideB;
    private final Listener listener;
    private final AtomicInteger closed = new AtomicInteger();
    private volatile String error;
    /**
     * The stream's peer ended the tunnel with RST_STREAM CANCEL or NO_ERROR (its EOF): what fails after that, such
     * as bytes still on their way into the reset stream, is a consequence of that end, not an error of the tunnel.
     */
    private volatile boolean resetCleanly;

    private Relay(Channel a, Channel b, CounterDataPoint aToB, CounterDataPoint bToA, Listener listener) {
        this.listener = listener;
        this.sideA = new Side(a, aToB);
        this.sideB = new Side(b, bToA);
        sideA.peer = sideB;
        sideB.peer = sideA;
    }

    /**
     * Starts relaying; both channels should have autoRead off until now so no byte is read before this. A channel
     * that already closed (a stream reset right after its answer, a client gone while its tunnel was opening) is
     * ended as if it closed now, after whatever the caller fires into its pipeline next (data that came early).
     *
     * @param aToB counts the bytes read from {@code a} as they are passed on to {@code b} (null: not counted)
     * @param bToA the same the other way
     */
    public static Relay start(Channel a, Channel b, CounterDataPoint aToB, CounterDataPoint bToA,
            Listener listener) {
        Relay r = new Relay(a, b, aToB, bToA, listener);
        a.pipeline().addLast("relay", r.sideA);
        b.pipeline().addLast("relay", r.sideB);
        a.config().setAutoRead(true);
        b.config().setAutoRead(true);
        r.sideA.endIfClosed();
        r.sideB.endIfClosed();
        return r;
    }

    /**
     * Bytes read from {@code a} and passed to {@code b} so far: a volatile read of the counter the relay keeps
     * anyway, for any thread (telemetry's periodic progress report), nothing added to the relay's path.
     */
    public long bytesAToB() {
        return sideA.bytesIn;
    }

    /** Bytes read from {@code b} and passed to {@code a} so far (as {@link #bytesAToB()}). */
    public long bytesBToA() {
        return sideB.bytesIn;
    }

    /**
     * Ends the relay from outside (ztunnel's shutdown): both channels close, each on its own loop (any thread may
     * call this), and the listener is told once both have, as for any other end.
     */
    public void close() {
        sideA.self.close();
        sideB.self.close();
    }

    /**
     * Whether an RST_STREAM with {@code code} ends a tunnel in error (anything but CANCEL and NO_ERROR, which are the
     * peer's EOF). A handler that holds a stream before its relay starts and sees its reset there keeps the frame and
     * fires it into the stream's pipeline right after {@link #start} (as a read, after any early data), so the relay
     * ends the tunnel as it would have during the relay.
     */
    public static boolean isErrorReset(long code) {
        return code != Http2Error.CANCEL.code() && code != Http2Error.NO_ERROR.code();
    }

    private void sideClosed() {
        if (closed.incrementAndGet() == 2) {
            listener.closed(sideA.bytesIn, sideB.bytesIn, error);
        }
    }

    private void fail(String e) {
        if (error == null && !resetCleanly) {
            error = e;
        }
    }

    private final class Side extends ChannelInboundHandlerAdapter {
        final Channel self;
        final boolean isStream;
        Side peer;
        /** bytes read from this side (written to the peer); single writer: this side's loop. */
        volatile long bytesIn;
        /** the same, in the connection's metric series (the hot path: one add per read, nothing allocated) */
        final CounterDataPoint counted;
        boolean inputDone;
        boolean outputDone;
        /** Stream: our END_STREAM went out (set by the peer side, on success of its write). */
        volatile boolean endSent;
        /** Stream: the peer sent RST_STREAM (its code decided whether that was an error). */
        boolean reset;
        /** Stream: closed by this relay because its peer ended, which tells how the tunnel ended. */
        volatile boolean closedByRelay;
        /** Its end was handled (channelInactive, or {@link #endIfClosed} for a channel closed before the start). */
        private boolean ended;

        Side(Channel self, CounterDataPoint counted) {
            this.self = self;
            this.isStream = self instanceof Http2StreamChannel;
            this.counted = counted;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf data;
            boolean eof = false;
            if (msg instanceof ByteBuf b) {
                data = b;
            } else if (msg instanceof Http2DataFrame f) {
                data = f.content(); // the frame is its content: writing it on hands the reference over
                eof = f.isEndStream();
            } else if (msg instanceof Http2ResetFrame r) {
                resetByPeer(r.errorCode());
                return;
            } else if (msg instanceof Http2HeadersFrame h) {
                if (h.isEndStream()) { // trailers end the stream like an empty END_STREAM
                    eofFromSelf();
                }
                return;
            } else {
                ReferenceCountUtil.release(msg);
                return;
            }
            int n = data.readableBytes();
            if (n > 0) {
                bytesIn += n;
                if (counted != null) {
                    counted.inc(n);
                }
                peer.self.write(peer.isStream ? new DefaultHttp2DataFrame(data) : data, peer.self.voidPromise());
            } else {
                data.release();
            }
            if (eof) {
                eofFromSelf();
            }
            if (!peer.self.isWritable()) {
                self.config().setAutoRead(false);
                // the peer may live on another event loop and have become writable (and found autoRead still
                // on) between the check and the switch: look again, or this side would never read again
                if (peer.self.isWritable()) {
                    self.config().setAutoRead(true);
                }
            }
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            peer.self.flush();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                eofFromSelf();
            } else if (evt instanceof Http2ResetFrame r) { // Netty hands a stream its RST_STREAM as an event
                resetByPeer(r.errorCode());
            }
            ReferenceCountUtil.release(evt);
        }

        /** RST_STREAM from the stream's peer: CANCEL and NO_ERROR are its EOF, any other code an error. */
        private void resetByPeer(long code) {
            if (isErrorReset(code)) {
                Http2Error e = Http2Error.valueOf(code);
                fail("stream reset by peer: " + (e == null ? "error code 0x" + Long.toHexString(code) : e.name()));
            } else {
                resetCleanly = true;
            }
            reset = true;
            inputDone = true; // the stream channel closes next; channelInactive ends the peer
        }

        /** This side sent its last byte: half-close the peer (END_STREAM or TCP FIN). */
        private void eofFromSelf() {
            if (inputDone) {
                return;
            }
            inputDone = true;
            Side p = peer;
            if (p.isStream) {
                p.self.writeAndFlush(new DefaultHttp2DataFrame(true)).addListener(f -> {
                    if (f.isSuccess()) {
                        p.endSent = true;
                    }
                });
            } else if (p.inputDone) {
                // the peer socket already saw its EOF: this ends it both ways, and a close after the last write sends
                // the same FIN as shutdownOutput without Netty's stack-traced ChannelOutputShutdownException
                p.self.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            } else {
                p.self.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener((ChannelFutureListener) f -> {
                    if (f.isSuccess() && p.self instanceof DuplexChannel d) {
                        d.shutdownOutput().addListener(x -> p.outputShut());
                    } else {
                        p.self.close();
                    }
                });
            }
            if (!isStream && outputDone) {
                self.close();
            }
        }

        /** Runs on this side's loop once its output is shut (TCP). */
        void outputShut() {
            outputDone = true;
            if (inputDone) {
                self.close();
            } else {
                // both FINs will then have passed: shutting the input down at EOF would fail with ENOTCONN (a
                // stack-traced NotYetConnectedException per tunnel in Netty), so let EOF close the socket instead
                // and read that close as the EOF (channelInactive)
                self.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, false);
            }
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (self.isWritable()) {
                peer.self.config().setAutoRead(true);
            }
            ctx.fireChannelWritabilityChanged();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            ended();
        }

        /**
         * A channel that closed before its relay handler was added never tells it: ended now, on its loop, after
         * what the caller fires into the pipeline right after {@link #start} (early data, then the close).
         */
        void endIfClosed() {
            if (!self.isActive()) {
                self.eventLoop().execute(this::ended);
            }
        }

        /** This side's channel closed: ends the peer (if still open) and, with both closed, tells the listener. */
        private void ended() {
            if (ended) {
                return;
            }
            ended = true;
            if (!isStream && outputDone && !inputDone && error == null) {
                // EOF after our FIN (see outputShut): a clean end, passed on as such. The peer stream has had its
                // END_STREAM both ways now and closes by itself once its last frames are out: closing it here
                // would reset it and drop data still waiting for flow-control window
                eofFromSelf();
                sideClosed();
                return;
            }
            if (isStream && !reset && !closedByRelay && !(inputDone && endSent)) {
                Channel connection = ((Http2StreamChannel) self).parent();
                if (!connection.isActive()) {
                    // cut off by its connection (no PING answer, revoked peer, a reset socket...): not a clean end
                    String why = connection.attr(Http2Setup.DROPPED).get();
                    fail(why != null ? "hbone connection dropped: " + why
                            : "hbone connection closed before the tunnel ended");
                }
            }
            Side p = peer;
            if (p.self.isActive()) {
                if (p.isStream) {
                    // not a clean end for the peer if we get here before both halves closed: RST(CANCEL)
                    p.closedByRelay = true;
                    p.self.close();
                } else if (isStream && error != null) {
                    // the stream failed: reset the socket (pending bytes dropped) so the application sees an
                    // aborted transfer, not an EOF
                    p.self.config().setOption(ChannelOption.SO_LINGER, 0);
                    p.self.close();
                } else {
                    // pending bytes first, then FIN: the peer sees EOF, not a reset
                    p.self.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
                }
            }
            sideClosed();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (isStream && Http2CodecUtil.getEmbeddedHttp2Exception(cause) != null) {
                // the peer broke HTTP/2 on this stream: Netty's multiplexer resets it with the error's own code
                // right after this. Closing here would send RST(CANCEL) first, which the peer reads as a clean end
                fail("hbone stream error: " + cause.getMessage());
                return;
            }
            if (!peerGone(cause)) {
                fail(String.valueOf(cause.getMessage()));
            }
            log.atDebug().addKeyValue("channel", self.toString()).log("relay error: {}", cause.toString());
            self.close();
        }
    }

    /**
     * Whether {@code cause} says the other end of a socket reset it or is gone, which Istio's copy ignores
     * ({@code ConnectionReset}, {@code BrokenPipe}, {@code NotConnected}, {@code UnexpectedEof}): ECONNRESET and
     * EPIPE (Netty's native transport names the errno, NIO only says so in the message), ENOTCONN, an EOF cut
     * short, and a write to a socket that closed meanwhile (Netty's form of a broken pipe once the close is seen).
     */
    static boolean peerGone(Throwable cause) {
        if (cause instanceof Errors.NativeIoException n) {
            // only thrown by the native transport, whose library (and so these constants) is loaded then
            int errno = n.expectedErr();
            return errno == Errors.ERRNO_ECONNRESET_NEGATIVE || errno == Errors.ERRNO_EPIPE_NEGATIVE
                    || errno == Errors.ERRNO_ENOTCONN_NEGATIVE;
        }
        if (cause instanceof NotYetConnectedException || cause instanceof ClosedChannelException
                || cause instanceof EOFException) {
            return true;
        }
        String message = cause instanceof IOException ? cause.getMessage() : null;
        return message != null && (message.startsWith("Connection reset") || message.endsWith("Broken pipe"));
    }
}
