package io.jmesh.ztunnel.telemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The per-reason window: first lines through, the rest summed once the interval is over, reasons apart. */
class RefusalLogLimitTest {

    final AtomicLong now = new AtomicLong(1_000);
    final RefusalLogLimit limit = new RefusalLogLimit(2, Duration.ofSeconds(10), now::get);
    final List<String> summaries = new ArrayList<>();

    boolean admit(String reason) {
        return limit.admit(reason, (r, lines, interval) -> summaries.add(r + "=" + lines));
    }

    @Test
    void theFirstLinesOfEachReasonPassTheRestAreSummedAtTheNextIntervalsFirstEvent() {
        assertThat(List.of(admit("a"), admit("a"), admit("a"), admit("a"), admit("b"))).containsExactly(true, true,
                false, false, true);
        assertThat(summaries).isEmpty();
        now.addAndGet(Duration.ofSeconds(10).toNanos());
        assertThat(admit("a")).isTrue();
        assertThat(summaries).containsExactly("a=2"); // b left nothing out: no summary line
        assertThat(admit("a")).isTrue();
        assertThat(admit("a")).isFalse();
    }

    @Test
    void aTimerReportsTheLinesLeftOutEvenWhenNoEventFollows() {
        admit("a");
        admit("a");
        admit("a");
        limit.reportSuppressed((r, lines, interval) -> summaries.add(r + "=" + lines));
        assertThat(summaries).isEmpty(); // the interval is not over yet
        now.addAndGet(Duration.ofSeconds(11).toNanos());
        limit.reportSuppressed((r, lines, interval) -> summaries.add(r + "=" + lines));
        limit.reportSuppressed((r, lines, interval) -> summaries.add(r + "=" + lines));
        assertThat(summaries).containsExactly("a=1"); // once
    }

    @Test
    void settingsOutsideTheirRangeAreRefused() {
        assertThatThrownBy(() -> new RefusalLogLimit(0, Duration.ofSeconds(1), now::get))
                .hasMessageContaining("linesPerInterval: 0");
        assertThatThrownBy(() -> new RefusalLogLimit(1, Duration.ZERO, now::get)).hasMessageContaining("interval");
    }
}
