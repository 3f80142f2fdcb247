package io.jmesh.ztunnel.dns;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Which server a query asks first, as servers go silent and answer again. */
class SilentServersTest {

    static final InetSocketAddress A = new InetSocketAddress("127.0.45.1", 53);
    static final InetSocketAddress B = new InetSocketAddress("127.0.45.2", 53);
    static final InetSocketAddress C = new InetSocketAddress("127.0.45.3", 53);

    @Test
    void aQueryStartsWithTheFirstServerNotHeldDownInTheConfiguredOrder() {
        SilentServers s = new SilentServers(List.of(A, B, C), Duration.ofSeconds(2));
        assertThat(s.first()).isZero();
        s.silent(A);
        assertThat(s.first()).as("A held down").isEqualTo(1);
        s.silent(1);
        assertThat(s.first()).as("A and B held down").isEqualTo(2);
        s.silent(C);
        assertThat(s.first()).as("all held down: the configured order").isZero();
        s.answered(B);
        assertThat(s.first()).as("B answered").isEqualTo(1);
        s.answered(0);
        assertThat(s.first()).as("A answered").isZero();
    }

    @Test
    void aHoldDownEndsAfterItsTimeoutsAndAnUnknownServerChangesNothing() {
        SilentServers s = new SilentServers(List.of(A, B), Duration.ofMillis(1)); // held down 10 ms
        s.silent(new InetSocketAddress("127.0.45.9", 53));
        s.answered(new InetSocketAddress("127.0.45.9", 53));
        assertThat(s.first()).isZero();
        s.silent(A);
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (s.first() != 0 && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertThat(s.first()).as("A's hold-down over").isZero();
    }
}
