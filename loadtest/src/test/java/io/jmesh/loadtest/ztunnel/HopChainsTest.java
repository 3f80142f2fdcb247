package io.jmesh.loadtest.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Following requests through captured segments, as {@code ztunnel-hops} does with tshark's output. */
class HopChainsTest {

    // stage = the last octet of the destination address, 0..5; anything else is not part of a request
    static final ZtunnelHopsScenario.Stages BY_DST = (src, sp, dst, dp) -> dst.startsWith("10.0.0.")
            ? Integer.parseInt(dst.substring(7)) : -1;

    static String seg(String epoch, int stage, int len) {
        return epoch + "\t127.0.0.1\t40000\t10.0.0." + stage + "\t50000\t" + len;
    }

    @Test
    void eachRequestIsFollowedThroughItsSixSegmentsInOrder() {
        List<long[]> chains = ZtunnelHopsScenario.chains(List.of(
                seg("100.000000000", 0, 1024),
                seg("100.000030000", 1, 1053),
                seg("100.000050000", 2, 1024),
                seg("100.000100000", 3, 1024),
                seg("100.000120000", 4, 1053),
                seg("100.000150000", 5, 1024),
                "100.000160000\t127.0.0.1\t1\t192.168.0.1\t2\t1024", // another flow: ignored
                seg("100.001000000", 0, 1024),
                seg("100.001040000", 1, 1053),
                seg("100.001060000", 2, 1024),
                seg("100.001200000", 3, 1024),
                seg("100.001230000", 4, 1053),
                seg("100.001260000", 5, 1024)), BY_DST);

        assertThat(chains).hasSize(2);
        assertThat(chains.get(0)).containsExactly(100_000_000_000L, 100_000_030_000L, 100_000_050_000L,
                100_000_100_000L, 100_000_120_000L, 100_000_150_000L);
        long[] outbound = ZtunnelHopsScenario.hop(chains, 0, 1);
        assertThat(outbound[0]).isEqualTo(40L); // of 30 and 40 µs, the upper median
        assertThat(ZtunnelHopsScenario.hop(chains, 0, 5)[2]).isEqualTo(260L);
    }

    @Test
    void aSegmentCarryingTwoRequestsMovesBoth() {
        List<long[]> chains = ZtunnelHopsScenario.chains(List.of(
                seg("1.000000", 0, 1024),
                seg("1.000010", 0, 1024),
                seg("1.000050", 1, 2106), // both requests' TLS records in one segment
                seg("1.000060", 2, 1024),
                seg("1.000070", 2, 1024),
                seg("1.000080", 3, 2048),
                seg("1.000090", 4, 1053),
                seg("1.000095", 4, 1053),
                seg("1.000100", 5, 1024),
                seg("1.000110", 5, 1024)), BY_DST);

        assertThat(chains).hasSize(2);
        assertThat(chains.get(0)[1]).isEqualTo(chains.get(1)[1]);
        assertThat(chains.get(1)[5] - chains.get(1)[0]).isEqualTo(100_000L);
    }

    @Test
    void segmentsWhoseRequestStartedBeforeTheCaptureAreDropped() {
        List<long[]> chains = ZtunnelHopsScenario.chains(List.of(
                seg("5.000100", 4, 1053),
                seg("5.000200", 5, 1024),
                seg("5.001000", 0, 1024),
                seg("5.001100", 1, 1053)), BY_DST);
        assertThat(chains).isEmpty();
        assertThat(ZtunnelHopsScenario.hop(chains, 0, 1)).containsExactly(-1, -1, -1);
    }

    @Test
    void captureTimesKeepTheirNanoseconds() {
        assertThat(ZtunnelHopsScenario.epochNanos("1796271558.401234567")).isEqualTo(1_796_271_558_401_234_567L);
        assertThat(ZtunnelHopsScenario.epochNanos("12.5")).isEqualTo(12_500_000_000L);
        assertThat(ZtunnelHopsScenario.epochNanos("7")).isEqualTo(7_000_000_000L);
    }
}
