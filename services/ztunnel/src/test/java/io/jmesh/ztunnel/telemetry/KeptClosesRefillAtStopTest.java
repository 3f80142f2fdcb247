package io.jmesh.ztunnel.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A refill of kept CLOSED events (the publisher's room hook) that is under way when shutdown begins: what the
 * publisher refuses it puts back, and shutdown's last offer waits for it, so the event goes out instead of being
 * counted lost. Driven by an outlet that holds the refill inside its offer until the test lets it go.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class KeptClosesRefillAtStopTest {

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final CountDownLatch refillOffering = new CountDownLatch(1);
    private final CountDownLatch letRefillGo = new CountDownLatch(1);
    private final AtomicBoolean room = new AtomicBoolean(false);
    private final AtomicInteger refused = new AtomicInteger();
    private final List<String> sent = new CopyOnWriteArrayList<>();

    /** Refuses while there is no room; the first offer on the refill's thread waits for the test. */
    private final KeptCloses.Outlet outlet = new KeptCloses.Outlet() {
        @Override
        public boolean offer(EncodedEvent e, Runnable lostLater) {
            if (Thread.currentThread().getName().equals("refill") && refillOffering.getCount() > 0) {
                refillOffering.countDown();
                await(letRefillGo);
                return false; // the publisher was full when the refill tried
            }
            if (!room.get()) {
                return false;
            }
            sent.add(new String(e.value(), StandardCharsets.UTF_8));
            return true;
        }

        @Override
        public void countRefused() {
            refused.incrementAndGet();
        }
    };

    @Test
    void anEventARefillCouldNotHandOverAsShutdownBeganGetsShutdownsLastOffer() throws Exception {
        KeptCloses kept = new KeptCloses(outlet, registry);
        kept.publish(event("close-1")); // no room: kept
        assertThat(sent).isEmpty();

        CompletableFuture<Boolean> refill = new CompletableFuture<>();
        Thread refiller = new Thread(() -> refill.complete(kept.offerKept()), "refill");
        refiller.start();
        assertThat(refillOffering.await(10, TimeUnit.SECONDS)).isTrue(); // the refill holds close-1

        CompletableFuture<Integer> stopped = CompletableFuture.supplyAsync(() -> kept.stop(Duration.ofSeconds(10)));
        Thread.sleep(100); // shutdown has begun and waits for the refill
        assertThat(stopped).isNotDone();
        room.set(true);
        letRefillGo.countDown(); // the refill's offer is refused: close-1 goes back for shutdown's offer

        assertThat(refill.get(10, TimeUnit.SECONDS)).isTrue();
        assertThat(stopped.get(10, TimeUnit.SECONDS)).as("kept events stop() handed over").isEqualTo(1);
        assertThat(sent).containsExactly("close-1");
        assertThat(lost()).isZero();
        assertThat(refused).hasValue(0);
    }

    @Test
    void aRefillThatStartsAfterShutdownBeganLeavesTheEventsToIt() throws Exception {
        KeptCloses kept = new KeptCloses(outlet, registry);
        kept.publish(event("close-1"));
        room.set(true);
        CompletableFuture<Integer> stopped = CompletableFuture.supplyAsync(() -> kept.stop(Duration.ofSeconds(10)));
        assertThat(stopped.get(10, TimeUnit.SECONDS)).isEqualTo(1);

        assertThat(kept.offerKept()).as("a refill after the stop offers nothing").isFalse();
        kept.publish(event("close-2")); // handed over: the publisher has room
        room.set(false);
        kept.publish(event("close-3")); // refused after the stop: lost at once, counted
        assertThat(sent).containsExactly("close-1", "close-2");
        assertThat(lost()).isEqualTo(1);
        assertThat(refused).hasValue(1);
    }

    private static EncodedEvent event(String name) {
        return new EncodedEvent(new byte[0], name.getBytes(StandardCharsets.UTF_8));
    }

    private double lost() {
        return registry.scrape().stream()
                .filter(m -> m.getMetadata().getName().equals("ztunnel_connection_closes_lost"))
                .flatMap(m -> ((CounterSnapshot) m).getDataPoints().stream())
                .mapToDouble(CounterSnapshot.CounterDataPointSnapshot::getValue).sum();
    }

    private static void await(CountDownLatch latch) {
        try {
            if (!latch.await(10, TimeUnit.SECONDS)) {
                throw new AssertionError("the test never let the refill go");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
