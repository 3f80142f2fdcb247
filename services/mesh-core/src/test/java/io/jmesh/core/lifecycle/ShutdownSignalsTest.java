package io.jmesh.core.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.lifecycle.ShutdownSignals.Action;
import org.junit.jupiter.api.Test;

class ShutdownSignalsTest {

    private static final long MS = 1_000_000L;

    @Test
    void theFirstSignalDrainsARepeatWithinASecondIsTheSameRequestALaterOneExits() {
        ShutdownSignals signals = new ShutdownSignals();
        long t0 = 5_000 * MS;
        assertThat(signals.received(t0)).isEqualTo(Action.DRAIN);
        assertThat(signals.received(t0 + 1)).isEqualTo(Action.REPEATED);
        assertThat(signals.received(t0 + 999 * MS)).isEqualTo(Action.REPEATED);
        assertThat(signals.received(t0 + 1_000 * MS)).isEqualTo(Action.EXIT_NOW);
        assertThat(signals.received(t0 + 60_000 * MS)).isEqualTo(Action.EXIT_NOW);
    }

    @Test
    void aClockReadingOfZeroOrBelowStillCountsAsTheFirstSignal() {
        // System.nanoTime() may be zero or negative: neither may be taken for "no signal yet"
        ShutdownSignals zero = new ShutdownSignals();
        assertThat(zero.received(0)).isEqualTo(Action.DRAIN);
        assertThat(zero.received(0)).isEqualTo(Action.REPEATED);
        ShutdownSignals negative = new ShutdownSignals();
        assertThat(negative.received(-2_000 * MS)).isEqualTo(Action.DRAIN);
        assertThat(negative.received(-1_500 * MS)).isEqualTo(Action.REPEATED);
        assertThat(negative.received(-500 * MS)).isEqualTo(Action.EXIT_NOW);
    }
}
