package io.jmesh.core.tls;

import static org.assertj.core.api.Assertions.assertThat;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReloadedFilesTest {

    @TempDir
    Path dir;
    Vertx vertx;
    Counter outcomes;
    final List<String> applied = new CopyOnWriteArrayList<>();
    volatile boolean applyFails;
    ReloadedFiles<String> watch;
    Path a;
    Path b;

    @BeforeEach
    void setUp() throws Exception {
        vertx = Vertx.vertx();
        outcomes = ReloadedFiles.outcomes(new PrometheusRegistry(), "test");
        a = Files.writeString(dir.resolve("a"), "1");
        b = Files.writeString(dir.resolve("b"), "1");
        // an hour between timer checks: the test drives every check itself
        watch = new ReloadedFiles<>(vertx, "pair", List.of(a, b), List.of("1", "1"), "1+1", Duration.ofHours(1),
                outcomes, ReloadedFilesTest::pair, p -> {
                    if (applyFails) {
                        return Future.failedFuture("refused by the server");
                    }
                    applied.add(p);
                    return Future.succeededFuture();
                });
    }

    /** Valid when both files hold the same number. */
    static String pair(List<String> c) {
        if (!c.get(0).equals(c.get(1))) {
            throw new IllegalArgumentException("b: " + c.get(1) + " does not match a: " + c.get(0));
        }
        return c.get(0) + "+" + c.get(1);
    }

    @AfterEach
    void tearDown() throws Exception {
        watch.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    boolean check() throws Exception {
        return watch.check().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    double count(String outcome) {
        return outcomes.labelValues("pair", outcome).get();
    }

    @Test
    void unchangedFilesAreNotApplied() throws Exception {
        assertThat(check()).isFalse();
        assertThat(applied).isEmpty();
        assertThat(count("applied")).isZero();
    }

    @Test
    void aHalfWrittenPairIsRefusedOnceThenTheCompletedPairApplies() throws Exception {
        Files.writeString(a, "2");
        assertThat(check()).isFalse();
        assertThat(check()).isFalse();
        assertThat(count("invalid")).as("the same content is refused once").isEqualTo(1.0);
        assertThat(watch.current()).isEqualTo("1+1");

        Files.writeString(b, "2");
        assertThat(check()).isTrue();
        assertThat(applied).containsExactly("2+2");
        assertThat(watch.current()).isEqualTo("2+2");
        assertThat(count("applied")).isEqualTo(1.0);
    }

    @Test
    void aMissingFileIsInvalidAndItsReturnApplies() throws Exception {
        Files.delete(b);
        assertThat(check()).isFalse();
        assertThat(check()).isFalse();
        assertThat(count("invalid")).isEqualTo(1.0);
        Files.writeString(a, "3");
        Files.writeString(b, "3");
        assertThat(check()).isTrue();
        assertThat(watch.current()).isEqualTo("3+3");
    }

    @Test
    void materialTheServerRefusesIsCountedAndTheOldStays() throws Exception {
        applyFails = true;
        Files.writeString(a, "4");
        Files.writeString(b, "4");
        assertThat(check()).isFalse();
        assertThat(count("apply_failed")).isEqualTo(1.0);
        assertThat(watch.current()).isEqualTo("1+1");
    }

    /**
     * A check under way when its watcher is closed (its files' directory then removed, as a test's temporary one)
     * must not warn or apply: before, such a check logged a warning for a watcher nobody used any more.
     */
    @Test
    void aClosedWatcherNeitherReportsNorApplies() throws Exception {
        watch.close();
        Files.delete(b);
        assertThat(check()).isFalse();
        assertThat(count("invalid")).isZero();
        Files.writeString(a, "6");
        Files.writeString(b, "6");
        assertThat(check()).isFalse();
        assertThat(applied).isEmpty();
        assertThat(watch.current()).isEqualTo("1+1");
    }

    @Test
    void theTimerChecksByItself() throws Exception {
        watch.close();
        watch = new ReloadedFiles<>(vertx, "pair", List.of(a, b), List.of("1", "1"), "1+1", Duration.ofMillis(20),
                outcomes, ReloadedFilesTest::pair, p -> {
                    applied.add(p);
                    return Future.succeededFuture();
                });
        Files.writeString(a, "5");
        Files.writeString(b, "5");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (applied.isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(applied).containsExactly("5+5");
    }
}
