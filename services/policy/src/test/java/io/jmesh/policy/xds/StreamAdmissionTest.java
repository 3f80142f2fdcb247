package io.jmesh.policy.xds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The arithmetic of {@link StreamAdmission}, on a clock the test moves. */
class StreamAdmissionTest {

    static final long SECOND = 1_000_000_000L;

    final AtomicLong now = new AtomicLong(-5 * SECOND); // nanoTime may be negative

    StreamAdmission admission(double perSecond, int maxSyncing) {
        return new StreamAdmission(perSecond, maxSyncing, StreamAdmission.MAX_WAIT, Duration.ofMinutes(1), now::get);
    }

    @Test
    void turnsComeOneAtATimeAndAStreamThatWouldWaitOverASecondIsRefused() {
        StreamAdmission a = admission(4, 10);
        assertThat(a.reserve().waitNanos()).isZero();
        assertThat(a.reserve().waitNanos()).isEqualTo(SECOND / 4);
        assertThat(a.reserve().waitNanos()).isEqualTo(SECOND / 2);
        assertThat(a.reserve().waitNanos()).isEqualTo(3 * SECOND / 4);
        assertThat(a.reserve().waitNanos()).isEqualTo(SECOND);
        assertThat(a.reserve().refused()).isTrue();
        assertThat(a.reserve().refused()).as("a refusal reserves nothing").isTrue();
        now.addAndGet(SECOND / 4);
        assertThat(a.reserve().waitNanos()).isEqualTo(SECOND);
    }

    @Test
    void anIdleSpellSavesNoTurns() {
        StreamAdmission a = admission(1, 10);
        assertThat(a.reserve().waitNanos()).isZero();
        now.addAndGet(60 * SECOND);
        assertThat(a.reserve().waitNanos()).isZero();
        assertThat(a.reserve().waitNanos()).as("burst 1, as istiod's limiter").isEqualTo(SECOND);
    }

    @Test
    void aTurnGivenBackIsTakenByTheNextStreamUnlessALaterOneWasTaken() {
        StreamAdmission a = admission(4, 10);
        a.reserve();
        StreamAdmission.Turn second = a.reserve();
        a.giveBack(second);
        assertThat(a.reserve().waitNanos()).isEqualTo(SECOND / 4);
        StreamAdmission.Turn third = a.reserve();
        assertThat(a.reserve().waitNanos()).isEqualTo(3 * SECOND / 4);
        a.giveBack(third); // a later turn was taken: kept (that one's wait stands)
        assertThat(a.reserve().waitNanos()).isEqualTo(SECOND);
    }

    @Test
    void atMostMaxSyncingStreamsAreInTheirInitialSync() {
        StreamAdmission a = admission(1, 2);
        assertThat(a.enterSync()).isTrue();
        assertThat(a.enterSync()).isTrue();
        assertThat(a.syncingFull()).isTrue();
        assertThat(a.enterSync()).isFalse();
        a.leaveSync();
        assertThat(a.syncingFull()).isFalse();
        assertThat(a.enterSync()).isTrue();
        assertThat(a.syncing()).isEqualTo(2);
    }

    @Test
    void limitsThatAdmitNothingAreRefusedNamingTheSetting() {
        assertThatThrownBy(() -> new StreamAdmission(0, 1)).hasMessageContaining("perSecond: 0.0");
        assertThatThrownBy(() -> new StreamAdmission(Double.NaN, 1)).hasMessageContaining("perSecond: NaN");
        assertThatThrownBy(() -> new StreamAdmission(1, 0)).hasMessageContaining("maxSyncing: 0");
        assertThatThrownBy(() -> new StreamAdmission(1, 1, Duration.ZERO)).hasMessageContaining("maxInitialSync: PT0S");
        assertThatThrownBy(() -> new StreamAdmission(1, 1, Duration.ofMinutes(1), 0))
                .hasMessageContaining("maxStreamsPerNode: 0 (expected: >= 1)");
        assertThat(new StreamAdmission(1, 1, Duration.ZERO, Duration.ofMinutes(1), now::get).reserve().waitNanos()).isZero();
        assertThat(new StreamAdmission(25, 1).perSecondText()).isEqualTo("25");
        assertThat(new StreamAdmission(0.5, 1).perSecondText()).isEqualTo("0.5");
    }
}
