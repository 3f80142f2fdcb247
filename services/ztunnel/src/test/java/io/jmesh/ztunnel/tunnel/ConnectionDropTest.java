package io.jmesh.ztunnel.tunnel;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2StreamChannel;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/**
 * Two ways an HBONE connection ends. A plain close is graceful: GOAWAY, then Netty waits for the open streams
 * (what a drain wants; its deadline bounds the wait). {@link Http2Setup#drop} ends it now, streams and all: for a
 * peer that is gone or not to be talked to any more, and for a connection broken by an error.
 */
class ConnectionDropTest {

    @Test
    void aPlainCloseWaitsForTheOpenStreams() {
        try (Http2Pair pair = new Http2Pair()) {
            Http2StreamChannel stream = pair.openStream();
            pair.server.close();
            pair.exchange();
            assertThat(pair.server.isOpen()).as("waiting for the open stream").isTrue();
            stream.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.CANCEL));
            pair.exchange();
            assertThat(pair.server.isOpen()).as("closed after its last stream").isFalse();
        }
    }

    @Test
    void aDropClosesAtOnceWithTheOpenStreams() {
        try (Http2Pair pair = new Http2Pair()) {
            pair.openStream();
            Http2Setup.drop(pair.server, "test");
            pair.server.runPendingTasks();
            pair.server.runScheduledPendingTasks();
            assertThat(pair.server.isOpen()).isFalse();
            assertThat(pair.serverStreams).singleElement().matches(s -> !s.isActive());
            assertThat(pair.server.attr(Http2Setup.DROPPED).get()).isEqualTo("test");
        }
    }

    /** An error nobody handled (a TLS alert, a reset socket) reaches {@link QuietErrors}: the connection is broken. */
    @Test
    void anErrorAtTheEndOfThePipelineDropsTheConnectionWithItsOpenStreams() {
        try (Http2Pair pair = new Http2Pair()) {
            pair.openStream();
            pair.server.pipeline().fireExceptionCaught(new IOException("broken"));
            pair.server.runPendingTasks();
            pair.server.runScheduledPendingTasks();
            assertThat(pair.server.isOpen()).isFalse();
            assertThat(pair.serverStreams).singleElement().matches(s -> !s.isActive());
            assertThat(pair.server.attr(Http2Setup.DROPPED).get()).contains("broken");
        }
    }
}
