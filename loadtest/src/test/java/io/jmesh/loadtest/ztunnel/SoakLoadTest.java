package io.jmesh.loadtest.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The soak's load counts what it did and what failed, goes on after failures, and stops by itself. */
class SoakLoadTest {

    @Test
    @Timeout(60)
    void everyPartOfTheLoadRunsAndIsCountedOnAWorkingPath() throws Exception {
        try (Loads.Echo echo = new Loads.Echo("127.0.0.1")) {
            SoakLoad load = new SoakLoad("direct", () -> Topology.connect(new InetSocketAddress("127.0.0.1",
                    echo.port())), Duration.ofSeconds(3), 3, Duration.ofSeconds(1));
            load.start();
            SoakLoad.Figures f = load.await();
            assertThat(f.requests()).isPositive();
            assertThat(f.requestFailures()).isZero();
            assertThat(f.connections()).isPositive();
            assertThat(f.connectionFailures()).isZero();
            assertThat(f.bulkTransfers()).isEqualTo(3); // at 0.5, 1.5 and 2.5 s
            assertThat(f.bulkFailures()).isZero();
            assertThat(f.p99MicrosByWindow()).hasSize(3).doesNotContain(-1L, 0L);
            assertThat(f.p99MicrosDuringBulk()).isPositive();
            assertThat(f.p99MicrosOtherwise()).isPositive();
            assertThat(f.firstErrors()).isEmpty();
        }
    }

    @Test
    @Timeout(60)
    void aPathThatRefusesEverythingIsCountedAsFailuresAndTheLoadStillEndsOnTime() throws Exception {
        int closed;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            closed = s.getLocalPort();
        }
        SoakLoad load = new SoakLoad("refused", () -> Topology.connect(new InetSocketAddress("127.0.0.1", closed)),
                Duration.ofSeconds(2), 2, Duration.ofSeconds(1));
        long t0 = System.nanoTime();
        load.start();
        SoakLoad.Figures f = load.await();
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(30));
        assertThat(f.requests()).isZero();
        // every scheduled request fails (those whose time passed while one failed count too): 200/s for 2 s
        assertThat(f.requestFailures()).isGreaterThan(SoakLoad.STEADY_RATE);
        assertThat(f.connections()).isZero();
        assertThat(f.connectionFailures()).isPositive();
        assertThat(f.bulkFailures()).isEqualTo(2);
        assertThat(f.p99MicrosByWindow()).containsOnly(-1L);
        assertThat(f.firstErrors()).hasSize(5).allSatisfy(e -> assertThat(e).contains("Connection refused"));
    }
}
