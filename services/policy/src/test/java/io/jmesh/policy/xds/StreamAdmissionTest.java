package io.jmesh.policy.xds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
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
        StreamAdmission.Place first = a.enterSync();
        assertThat(first).isNotNull();
        assertThat(a.enterSync()).isNotNull();
        assertThat(a.enterSync()).isNull();
        assertThat(first.release()).isTrue();
        assertThat(first.release()).as("a place is freed once").isFalse();
        assertThat(a.syncing()).isEqualTo(1);
        assertThat(a.enterSync()).isNotNull();
        assertThat(a.syncing()).isEqualTo(2);
    }

    /** A node's newer stream takes its older one's place over: the place passes, never freed twice nor counted twice. */
    @Test
    void aPlaceHandedOverIsHeldOnceAndFreedOnce() {
        StreamAdmission a = admission(1, 1);
        StreamAdmission.Place older = a.enterSync();
        now.addAndGet(40 * SECOND);
        StreamAdmission.Place newer = older.handOver();
        assertThat(newer).isNotNull();
        assertThat(a.syncing()).as("the count is unchanged").isEqualTo(1);
        assertThat(older.held()).isFalse();
        assertThat(older.handOver()).as("handed over once").isNull();
        assertThat(older.release()).as("the older stream ending frees nothing").isFalse();
        assertThat(a.syncing()).isEqualTo(1);
        assertThat(a.enterSync()).isNull();
        assertThat(newer.remainingNanos()).as("the place keeps its deadline").isEqualTo(20 * SECOND);

        assertThat(newer.release()).isTrue();
        assertThat(a.syncing()).isZero();
        assertThat(newer.handOver()).as("a place freed is not handed over").isNull();
        assertThat(a.syncing()).isZero();
        assertThat(a.enterSync().remainingNanos()).as("a place taken afresh").isEqualTo(60 * SECOND);
    }

    /**
     * The older stream frees its place (through, out of time, ended) on its event loop just as its node's newer one
     * takes it over on another: exactly one of them has it, and the count ends right.
     */
    @Test
    void aPlaceFreedAndHandedOverAtOnceOnTwoThreadsGoesToOneOfThem() throws Exception {
        StreamAdmission a = admission(1, 1);
        ExecutorService loops = Executors.newFixedThreadPool(2);
        try {
            for (int i = 0; i < 2_000; i++) {
                StreamAdmission.Place older = a.enterSync();
                CyclicBarrier together = new CyclicBarrier(2);
                Future<Boolean> freed = loops.submit(() -> {
                    together.await();
                    return older.release();
                });
                Future<StreamAdmission.Place> taken = loops.submit(() -> {
                    together.await();
                    return older.handOver();
                });
                StreamAdmission.Place newer = taken.get(10, TimeUnit.SECONDS);
                assertThat(freed.get(10, TimeUnit.SECONDS)).as("freed, run " + i).isEqualTo(newer == null);
                assertThat(a.syncing()).as("places held, run " + i).isEqualTo(newer == null ? 0 : 1);
                if (newer != null) {
                    assertThat(newer.release()).isTrue();
                }
                assertThat(a.syncing()).isZero();
            }
        } finally {
            loops.shutdownNow();
        }
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
