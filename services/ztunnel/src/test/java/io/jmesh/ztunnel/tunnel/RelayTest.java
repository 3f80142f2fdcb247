package io.jmesh.ztunnel.tunnel;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.unix.Errors;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.EOFException;
import java.io.IOException;
import java.net.SocketException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.NotYetConnectedException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The relay between two channels (embedded here): bytes counted as they pass, and how an end is reported. */
class RelayTest {

    final Counter bytes = Counter.builder().name("relayed_bytes_total").labelNames("direction")
            .register(new PrometheusRegistry());
    final EmbeddedChannel a = new EmbeddedChannel();
    final EmbeddedChannel b = new EmbeddedChannel();
    /** {aToB, bToA, error} once the relay ended. */
    final AtomicReference<Object[]> ended = new AtomicReference<>();

    @AfterEach
    void release() {
        a.finishAndReleaseAll();
        b.finishAndReleaseAll();
    }

    void relay() {
        Relay.start(a, b, bytes.labelValues("aToB"), bytes.labelValues("bToA"),
                (aToB, bToA, error) -> ended.set(new Object[] {aToB, bToA, error}));
    }

    void end() {
        a.close();
        b.close();
        a.runPendingTasks();
        b.runPendingTasks();
    }

    @Test
    void bytesAreCountedAsTheyPassWhileTheRelayIsOpen() {
        relay();
        a.writeInbound(Unpooled.wrappedBuffer(new byte[1000]));
        a.writeInbound(Unpooled.wrappedBuffer(new byte[24]));
        b.writeInbound(Unpooled.wrappedBuffer(new byte[10]));

        assertThat(bytes.labelValues("aToB").get()).isEqualTo(1024);
        assertThat(bytes.labelValues("bToA").get()).isEqualTo(10);
        assertThat(ended.get()).as("still open").isNull();
        ByteBuf first = b.readOutbound();
        assertThat(first.readableBytes()).isEqualTo(1000);
        first.release();
    }

    @Test
    void theEndReportsTheTotalsWithoutCountingThemAgain() {
        relay();
        a.writeInbound(Unpooled.wrappedBuffer(new byte[300]));
        b.writeInbound(Unpooled.wrappedBuffer(new byte[7]));
        end();

        assertThat(ended.get()).containsExactly(300L, 7L, null);
        assertThat(bytes.labelValues("aToB").get()).isEqualTo(300);
        assertThat(bytes.labelValues("bToA").get()).isEqualTo(7);
    }

    /** What Netty's NIO transport raises when a peer reset or went away (the epoll forms: below). */
    static Stream<Throwable> peerGone() {
        return Stream.of(new SocketException("Connection reset"), new IOException("Connection reset by peer"),
                new IOException("Broken pipe"), new NotYetConnectedException(), new ClosedChannelException(),
                new EOFException());
    }

    /** Istio's copy ignores ConnectionReset, BrokenPipe, NotConnected and UnexpectedEof from its sockets. */
    @ParameterizedTest
    @MethodSource("peerGone")
    void aPeerThatResetOrWentAwayEndsTheRelayCleanly(Throwable gone) {
        relay();
        a.writeInbound(Unpooled.wrappedBuffer(new byte[5]));
        a.pipeline().fireExceptionCaught(gone);
        b.runPendingTasks();

        assertThat(ended.get()).as("ended, without an error").containsExactly(5L, 0L, null);
    }

    @Test
    void aResetOrBrokenPipeFromTheNativeTransportEndsTheRelayCleanly() {
        Assumptions.assumeTrue(Epoll.isAvailable(), "no epoll here");
        for (int errno : new int[] {Errors.ERRNO_ECONNRESET_NEGATIVE, Errors.ERRNO_EPIPE_NEGATIVE}) {
            EmbeddedChannel x = new EmbeddedChannel();
            EmbeddedChannel y = new EmbeddedChannel();
            AtomicReference<String> error = new AtomicReference<>("not ended");
            Relay.start(x, y, null, null, (xToY, yToX, e) -> error.set(e));
            x.pipeline().fireExceptionCaught(new Errors.NativeIoException("read", errno));
            y.runPendingTasks();
            assertThat(error.get()).as("errno " + errno).isNull();
            x.finishAndReleaseAll();
            y.finishAndReleaseAll();
        }
    }

    @Test
    void anyOtherErrorStillEndsTheRelayWithIt() {
        relay();
        a.pipeline().fireExceptionCaught(new IOException("No route to host"));
        b.runPendingTasks();

        assertThat(ended.get()).containsExactly(0L, 0L, "No route to host");
    }

    // a side's end, and a side closed before the relay started (reset right after its answer, client gone)

    private final List<String> told = new ArrayList<>();

    private Relay.Listener listener() {
        return (aToB, bToA, error) -> told.add(aToB + "/" + bToA + " " + error);
    }

    @Test
    void aCloseEndsTheOtherSideAfterItsPendingBytes() {
        EmbeddedChannel a = new EmbeddedChannel();
        EmbeddedChannel b = new EmbeddedChannel();
        Relay.start(a, b, null, null, listener());
        a.writeInbound(Unpooled.copiedBuffer("hello", StandardCharsets.US_ASCII));
        a.close();
        b.runPendingTasks();
        ByteBuf out = b.readOutbound();
        assertThat(out.toString(StandardCharsets.US_ASCII)).isEqualTo("hello");
        out.release();
        assertThat(b.isOpen()).isFalse();
        assertThat(told).containsExactly("5/0 null");
        b.finishAndReleaseAll();
    }

    @Test
    void aSideClosedBeforeTheStartEndsTheOtherAndTheRelay() {
        EmbeddedChannel a = new EmbeddedChannel();
        EmbeddedChannel b = new EmbeddedChannel();
        a.close();
        Relay.start(a, b, null, null, listener());
        a.runPendingTasks();
        b.runPendingTasks();
        assertThat(b.isOpen()).as("the other side is closed").isFalse();
        assertThat(told).as("the relay's end is told once").containsExactly("0/0 null");
        b.finishAndReleaseAll();
    }

    @Test
    void bothSidesClosedBeforeTheStartEndTheRelayOnce() {
        EmbeddedChannel a = new EmbeddedChannel();
        EmbeddedChannel b = new EmbeddedChannel();
        a.close();
        b.close();
        Relay.start(a, b, null, null, listener());
        a.runPendingTasks();
        b.runPendingTasks();
        assertThat(told).containsExactly("0/0 null");
    }
}
