package io.jmesh.ztunnel.tunnel;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

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
}
