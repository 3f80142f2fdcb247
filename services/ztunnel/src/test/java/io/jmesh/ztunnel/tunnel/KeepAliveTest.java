package io.jmesh.ztunnel.tunnel;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http2.DefaultHttp2PingFrame;
import io.netty.handler.codec.http2.Http2PingFrame;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The HBONE keepalive on a frozen clock: a PING every interval; a peer that answers keeps its connection however
 * long it lives, a peer that stops answering loses it once the timeout has passed without an ACK, not before, open
 * streams and all.
 */
class KeepAliveTest {

    private static final Duration INTERVAL = Duration.ofSeconds(10);
    private static final Duration TIMEOUT = Duration.ofSeconds(20);

    @Test
    void aPeerThatAnswersKeepsItsConnection() {
        EmbeddedChannel ch = channel();
        for (int i = 1; i <= 10; i++) {
            tick(ch, INTERVAL);
            Http2PingFrame ping = ch.readOutbound();
            assertThat(ping).as("PING %d", i).isNotNull();
            assertThat(ping.ack()).isFalse();
            assertThat(ping.content()).isEqualTo(i);
            ch.writeInbound(new DefaultHttp2PingFrame(ping.content(), true));
        }
        assertThat(ch.isOpen()).isTrue();
        ch.finishAndReleaseAll();
    }

    @Test
    void aStalledPeerLosesItsConnectionAfterTheTimeoutNotBefore() {
        EmbeddedChannel ch = channel();
        tick(ch, INTERVAL);
        tick(ch, INTERVAL);                       // 20 s without an ACK: exactly the timeout, still open
        assertThat(ch.isOpen()).isTrue();
        assertThat(ch.outboundMessages()).hasSize(2);
        tick(ch, INTERVAL);                       // 30 s: past the timeout
        assertThat(ch.isOpen()).isFalse();
        ch.finishAndReleaseAll();
    }

    /**
     * With a stream open too: the connection is dropped, not closed gracefully (Netty's graceful close would wait
     * for the stream, which a vanished peer never ends), and the stream with it.
     */
    @Test
    void aStalledPeerLosesItsConnectionWithItsOpenStreams() {
        try (Http2Pair pair = new Http2Pair()) {
            pair.openStream();
            assertThat(pair.serverStreams).singleElement().matches(s -> s.isActive());
            // the client answers no PING from here on: nothing crosses any more
            pair.advanceServer(Http2Pair.PING_INTERVAL);
            pair.advanceServer(Http2Pair.PING_INTERVAL);
            assertThat(pair.server.isOpen()).isTrue();
            pair.advanceServer(Http2Pair.PING_INTERVAL);
            assertThat(pair.server.isOpen()).as("connection dropped").isFalse();
            assertThat(pair.serverStreams.get(0).isActive()).isFalse();
            assertThat(pair.server.attr(Http2Setup.DROPPED).get()).startsWith("no PING answer");
        }
    }

    @Test
    void otherFramesPassThroughAndPingsAreConsumed() {
        EmbeddedChannel ch = channel();
        ch.writeInbound("a stream frame");
        ch.writeInbound(new DefaultHttp2PingFrame(7, true));
        assertThat((Object) ch.readInbound()).isEqualTo("a stream frame");
        assertThat((Object) ch.readInbound()).isNull();
        ch.finishAndReleaseAll();
    }

    private static EmbeddedChannel channel() {
        EmbeddedChannel ch = new EmbeddedChannel();
        ch.freezeTime();
        ch.pipeline().addLast(new KeepAlive(INTERVAL, TIMEOUT));
        return ch;
    }

    private static void tick(EmbeddedChannel ch, Duration d) {
        ch.advanceTimeBy(d.toNanos(), TimeUnit.NANOSECONDS);
        ch.runScheduledPendingTasks();
    }
}
