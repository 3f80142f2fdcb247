package io.jmesh.loadtest.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class SlowRequestsTest {

    static final long MS = 1_000_000;

    @Test
    void fastRequestsAreNotKept() {
        SlowRequests s = new SlowRequests();
        s.record(0, 999);
        s.record(1, 1000);
        assertThat(s.bursts().slow()).isZero();
        assertThat(s.summary()).isEqualTo("none over 1 ms");
    }

    @Test
    void burstsAreFiveOrMoreWithinThreeMillisecondsAndTheirSpacingIsTheMedianGap() {
        SlowRequests s = new SlowRequests();
        // three bursts of 6, 500 and 520 ms apart; single slow requests between them
        for (long start : new long[] {100 * MS, 600 * MS, 1120 * MS}) {
            for (int i = 0; i < 6; i++) {
                s.record(start + i * 2 * MS, 4000);
            }
        }
        s.record(300 * MS, 1500);
        s.record(900 * MS, 1500);
        // four close together: not a burst (fewer than five)
        for (int i = 0; i < 4; i++) {
            s.record(1500 * MS + i * MS, 2000);
        }
        SlowRequests.Bursts b = s.bursts();
        assertThat(b.slow()).isEqualTo(24);
        assertThat(b.bursts()).isEqualTo(3);
        assertThat(b.inBursts()).isEqualTo(18);
        assertThat(b.medianSpacingMillis()).isEqualTo(520);
        assertThat(s.summary()).isEqualTo("24 over 1 ms, 75% of them in 3 bursts (median 520 ms apart)");
    }

    @Test
    void burstsOfDifferentSegmentsAreNotSpacedAgainstEachOther() {
        SlowRequests s = new SlowRequests();
        for (long start : new long[] {0, 10_000 * MS}) {
            for (int i = 0; i < 5; i++) {
                s.record(start + i * MS, 3000);
            }
        }
        assertThat(s.bursts().bursts()).isEqualTo(2);
        SlowRequests one = new SlowRequests();
        for (int i = 0; i < 5; i++) {
            one.record(i * MS, 3000);
        }
        assertThat(one.summary()).isEqualTo("5 over 1 ms, 100% of them in 1 burst");
        assertThat(s.summary()).isEqualTo("10 over 1 ms, 100% of them in 2 bursts");
    }
}
