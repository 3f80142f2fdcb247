package io.jmesh.ztunnel.tunnel;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.Http2Connection;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2StreamChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A pooled connection's stream windows while more than one tunnel sends (the server side of an HBONE connection as
 * ztunnel builds it, a plain HTTP/2 client, bytes exchanged in memory; the clock and the connection's round trip
 * are the test's). The client's view of a stream's window is what it may still send: what the server gave back.
 */
class SharedStreamWindowTest {

    static final int FULL = 4 << 20;
    static final int FLOOR = 256 << 10;

    final Http2Pair pair = new Http2Pair();
    final AtomicLong now = new AtomicLong(1_000_000_000L);
    final List<ChannelFuture> writes = new ArrayList<>();
    long rttMicros = 50; // loopback

    void install() {
        Http2Connection server = pair.server.pipeline().get(Http2FrameCodec.class).connection();
        pair.addAfterServerCodec(new SharedStreamWindow(server, FULL, FLOOR, now::get, ch -> rttMicros));
    }

    @AfterEach
    void close() {
        pair.close();
    }

    /** Sends {@code bytes} on {@code stream} in 64 KiB DATA frames, then lets both sides exchange all they have. */
    void send(Http2StreamChannel stream, int bytes) {
        for (int left = bytes; left > 0; left -= 65_536) {
            writes.add(stream.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(
                    new byte[Math.min(left, 65_536)]), false)));
        }
        pair.exchange();
    }

    int window(Http2StreamChannel stream) {
        Http2Connection client = pair.client.pipeline().get(Http2FrameCodec.class).connection();
        return client.remote().flowController().windowSize(client.stream(stream.stream().id()));
    }

    @Test
    void aStreamSendingBesideAnotherGetsTheSharedWindowAndTheFullOneOnceAlone() {
        install();
        Http2StreamChannel bulk = pair.openStream();
        Http2StreamChannel requests = pair.openStream();
        send(bulk, 1 << 20);
        assertThat(window(bulk)).as("one stream sending: the full window").isGreaterThan(FULL / 2);

        send(requests, 1024);
        send(bulk, 6 << 20);
        assertThat(window(bulk)).as("beside another sender: given back up to the shared size only")
                .isPositive().isLessThanOrEqualTo(FLOOR);
        send(requests, 1024);
        assertThat(window(requests)).isLessThanOrEqualTo(FULL);

        send(bulk, 64 << 10); // the requests' last DATA...
        now.addAndGet(SharedStreamWindow.SHARED_SPELL_NANOS - 1);
        send(bulk, 64 << 10);
        assertThat(window(bulk)).as("...not yet a spell ago").isLessThanOrEqualTo(FLOOR);
        now.addAndGet(2);
        send(bulk, 64 << 10);
        assertThat(window(bulk)).as("alone again past the spell: the full window").isGreaterThan(FULL / 2);
        assertThat(writes).as("every DATA frame went out: no stream stalled").allMatch(ChannelFuture::isSuccess);
    }

    @Test
    void aStreamOpenedWhileSharedStartsWithTheSharedWindow() {
        install();
        Http2StreamChannel a = pair.openStream();
        Http2StreamChannel b = pair.openStream();
        send(a, 1024);
        send(b, 1024);
        Http2StreamChannel bulk = pair.openStream();
        assertThat(window(bulk)).as("before its first byte: not the 4 MiB of the first SETTINGS").isEqualTo(FLOOR);
        send(bulk, 6 << 20);
        assertThat(window(bulk)).isPositive().isLessThanOrEqualTo(FLOOR);
        assertThat(writes).allMatch(ChannelFuture::isSuccess);
    }

    @Test
    void aStreamWhoseCreditTheSharedSizeTookBelowZeroIsRefilledOnceTheClientAcknowledges() {
        install();
        Http2StreamChannel bulk = pair.openStream();
        Http2StreamChannel requests = pair.openStream();
        send(bulk, 1 << 20); // consumed by the server and refilled
        send(requests, 1024);
        // the client spends its 4 MiB credit before the smaller size reaches it; the server consumes all of that
        // before the client's acknowledgement, so only the acknowledgement can trigger the refill of the rest
        send(bulk, 6 << 20);
        assertThat(writes).as("nothing waits for a refill that never comes").allMatch(ChannelFuture::isSuccess);
        assertThat(window(bulk)).isPositive().isLessThanOrEqualTo(FLOOR);
    }

    @Test
    void manySpellsLeaveEveryWindowWhereItWasAHalfClosedStreamAmongThem() {
        install();
        Http2StreamChannel bulk = pair.openStream();
        Http2StreamChannel requests = pair.openStream();
        Http2StreamChannel finished = pair.openStream();
        writes.add(finished.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(new byte[1024]), true)));
        pair.exchange(); // the client has ended its half: the server still sends, the client no longer does
        for (int spell = 0; spell < 50; spell++) {
            send(requests, 1024);
            send(bulk, 512 << 10);
            assertThat(window(bulk)).isLessThanOrEqualTo(FLOOR);
            now.addAndGet(SharedStreamWindow.SHARED_SPELL_NANOS + 1);
            send(bulk, 1024); // alone for a spell: the full size announced again
        }
        send(requests, 1024);
        now.addAndGet(SharedStreamWindow.SHARED_SPELL_NANOS + 1);
        send(requests, 1024);
        assertThat(window(requests)).as("a hundred announcements later, the same credit: nothing drifted")
                .isGreaterThan(FULL - (64 << 10)).isLessThanOrEqualTo(FULL);
        assertThat(window(bulk)).isGreaterThan(FULL / 2).isLessThanOrEqualTo(FULL);
        assertThat(writes).allMatch(ChannelFuture::isSuccess);
        assertThat(pair.client.isActive() && pair.server.isActive()).as("no flow-control error either side").isTrue();
    }

    @Test
    void aSilentSecondStreamLeavesTheFullWindow() {
        install();
        Http2StreamChannel bulk = pair.openStream();
        pair.openStream(); // open, like iperf3's control connection beside its data, but sending nothing
        send(bulk, 6 << 20);
        assertThat(window(bulk)).isGreaterThan(FULL / 2);
    }

    @Test
    void withoutARoundTripTimeTheWindowsAreLeftAlone() {
        rttMicros = -1; // not a native epoll socket
        install();
        Http2StreamChannel bulk = pair.openStream();
        Http2StreamChannel requests = pair.openStream();
        send(requests, 1024);
        send(bulk, 6 << 20);
        assertThat(window(bulk)).isGreaterThan(FULL / 2);
    }

    @Test
    void theLowestRoundTripReadSizesTheWindowReadAgainEverySecond() {
        rttMicros = 40_000; // the first read, under load
        install();
        Http2StreamChannel bulk = pair.openStream();
        Http2StreamChannel requests = pair.openStream();
        send(requests, 1024);
        send(bulk, 6 << 20);
        assertThat(window(bulk)).as("40 ms: the full window").isGreaterThan(FULL / 2);

        rttMicros = 100; // the queue gone
        now.addAndGet(SharedStreamWindow.RTT_SAMPLE_NANOS / 2);
        send(requests, 1024);
        send(bulk, 6 << 20);
        assertThat(window(bulk)).as("read once a second only").isGreaterThan(FULL / 2);
        now.addAndGet(SharedStreamWindow.RTT_SAMPLE_NANOS / 2 + 1);
        send(requests, 1024);
        send(bulk, 6 << 20);
        assertThat(window(bulk)).isPositive().isLessThanOrEqualTo(FLOOR);

        rttMicros = 40_000; // a higher one later changes nothing
        now.addAndGet(SharedStreamWindow.RTT_SAMPLE_NANOS + 1);
        send(requests, 1024);
        send(bulk, 6 << 20);
        assertThat(window(bulk)).isPositive().isLessThanOrEqualTo(FLOOR);
        assertThat(writes).allMatch(ChannelFuture::isSuccess);
    }

    @Test
    void theSharedSizeKeepsTwoAndAHalfGigabitsInFlightOverTheRoundTrip() {
        assertThat(SharedStreamWindow.sharedBytes(50, FLOOR, FULL)).as("loopback, one host").isEqualTo(FLOOR);
        assertThat(SharedStreamWindow.sharedBytes(1_000, FLOOR, FULL)).as("1 ms: another zone").isEqualTo(312_500);
        assertThat(SharedStreamWindow.sharedBytes(50_000, FLOOR, FULL)).as("50 ms: another region").isEqualTo(FULL);
        assertThat(SharedStreamWindow.sharedBytes(-1, FLOOR, FULL)).as("unknown").isEqualTo(FULL);
    }
}
