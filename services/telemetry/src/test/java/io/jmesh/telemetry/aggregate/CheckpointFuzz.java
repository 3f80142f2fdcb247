package io.jmesh.telemetry.aggregate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.telemetry.Events;
import io.jmesh.testing.fuzz.Fuzzer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A partition's checkpoint as the compacted checkpoint topic may hold it (written by any version, or by anyone with
 * access to the topic) through {@link PartitionAggregate#decode}, with and without labels removed since. Oracle: it
 * reads, or it is refused with an {@link IllegalArgumentException} naming what is wrong (the one exception the
 * checkpoint store catches: it holds that partition alone, anything else would end the ingest thread); what reads
 * has no counter below zero (served, it would read as a reset), its size is what the aggregate judges its room by,
 * and it reads back the same once written again. Each input within {@link #SLOW}.
 */
@Tag("fuzz")
class CheckpointFuzz {

    static final Duration SLOW = Duration.ofSeconds(2);
    static final RemovedLabels REMOVED = RemovedLabels.of(List.of("source_principal", "response_flags"));
    final Map<String, Integer> outcomes = new TreeMap<>();

    static byte[][] seeds() {
        PartitionAggregate a = new PartitionAggregate(41);
        a.add(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews"), 1000);
        a.add(Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 10, 20), 2000);
        a.add(Events.closed(Reporter.DESTINATION, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 5, 6).toBuilder()
                .setResponseFlags("UF").setError("refused").build(), 3000);
        a.add(Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 503, 7), 4000);
        PartitionAggregate removed = new PartitionAggregate(7, REMOVED);
        removed.add(Events.opened(Reporter.SOURCE, Events.RATINGS, Events.REVIEWS, "reviews"), 1000);
        return new byte[][] {a.encode(), removed.encode(), new PartitionAggregate(0).encode()};
    }

    @Test
    void aCheckpointReadsWholeOrIsRefusedNamingWhatIsWrong() {
        assertTimeoutPreemptively(Duration.ofSeconds(Long.getLong("fuzz.seconds", 20)
                + TimeUnit.MINUTES.toSeconds(1)), () -> Fuzzer.named("checkpoint", 4096).seeds(seeds())
                .run(input -> assertTimeoutPreemptively(SLOW, () -> {
                    read(input, RemovedLabels.NONE);
                    read(input, REMOVED);
                }, "one checkpoint took longer than " + SLOW)), "a fuzz input hung; replay with the printed -Dfuzz.seed");
        System.out.println("fuzz checkpoint: outcomes " + outcomes);
        assertThat(outcomes).as("some checkpoints must read").containsKey("read");
    }

    private void read(byte[] input, RemovedLabels removed) {
        PartitionAggregate a;
        try {
            a = PartitionAggregate.decode(input, removed);
        } catch (IllegalArgumentException e) {
            assertThat(e.getMessage()).as("what is wrong").startsWith("checkpoint");
            outcomes.merge("refused", 1, Integer::sum);
            return;
        }
        outcomes.merge("read", 1, Integer::sum);
        a.tcp().forEach((k, t) -> assertThat(LongStream.of(t.opened(), t.closed(), t.failed(), t.sentBytes(),
                t.receivedBytes(), t.open()).min().getAsLong()).as("counters of %s", k).isNotNegative());
        a.requests().forEach((k, t) -> {
            assertThat(t.requests()).as("requests of %s", k).isNotNegative();
            for (Distribution d : List.of(t.durationMillis(), t.requestBytes(), t.responseBytes())) {
                assertThat(LongStream.of(d.bucketCounts()).min().getAsLong()).as("buckets of %s", k).isNotNegative();
                assertThat(d.sum()).as("sum of %s", k).isNotNegative().isFinite();
            }
        });
        byte[] again = a.encode();
        assertThat(a.checkpointBytes()).as("the size it judges its room by").isEqualTo(again.length);
        assertThat(PartitionAggregate.decode(again, removed).encode()).as("read back").isEqualTo(again);
    }
}
