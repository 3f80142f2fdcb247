package io.jmesh.telemetry.ingest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.proto.telemetry.v1.RequestEvent;
import io.jmesh.telemetry.Events;
import io.jmesh.telemetry.aggregate.Buckets;
import io.jmesh.telemetry.aggregate.Distribution;
import io.jmesh.telemetry.aggregate.IstioLabels;
import io.jmesh.telemetry.aggregate.MeshTotals;
import io.jmesh.telemetry.aggregate.PartitionAggregate;
import io.jmesh.telemetry.aggregate.RequestTotals;
import io.jmesh.telemetry.aggregate.SeriesKey;
import io.jmesh.telemetry.aggregate.TcpTotals;
import io.jmesh.telemetry.graph.ServiceGraph;
import io.jmesh.telemetry.metrics.IstioMetrics;
import io.jmesh.testing.fuzz.Fuzzer;
import io.jmesh.testing.fuzz.ProtoMutator;
import io.prometheus.metrics.expositionformats.ExpositionFormats;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Event records as any producer may write them to the event topics, through what the ingest thread does with one
 * ({@code EventIngestor.count}): {@link EventDecoder#decode}, then {@link PartitionAggregate#admit},
 * {@link PartitionAggregate#overflow} and {@code add} for what it accepts. The first byte of an input picks the
 * topic (connection or request), the rest is the record's value: protobuf events of every kind (OPENED, PROGRESS,
 * CLOSED with and without response flags and reported bytes, an L7 request with a gRPC status), byte counts up to
 * {@code uint64}'s, mutated as bytes and field by field ({@link ProtoMutator}).
 *
 * <p>One aggregate counts the whole run, as one partition would. Oracle: decoding never throws; a refused record
 * has one of {@link EventDecoder#REJECTION_REASONS} and a detail naming the field ({@code ConnectionEvent.} or
 * {@code RequestEvent.}) or the protobuf error; an accepted one is counted without an exception, or refused for a byte counter
 * it would overflow (naming the field and the counter), and no counter of the series it touched goes backwards or
 * below zero (Prometheus reads a decrease as a reset and counts everything again). Every {@link #CHECK_EVERY} inputs, and at the end: the checkpoint is exactly as large as
 * {@link PartitionAggregate#checkpointBytes} says (its room is judged by that figure) and reads back to the same
 * totals, and {@code /metrics} renders ({@link IstioMetrics} through Prometheus' text writer) with no sample below
 * zero or not a number, and the service graph (told of each event before it is counted, as the ingest thread tells
 * it) answers its query as JSON. Series idle for {@link #IDLE_INPUTS} inputs expire, so the checkpoint's accounting is
 * checked as series come and go. Each input within {@link #SLOW}.
 */
@Tag("fuzz")
class EventRecordFuzz {

    static final Duration SLOW = Duration.ofSeconds(2);
    static final int CHECK_EVERY = 2_000;
    static final int IDLE_INPUTS = 5_000;
    static final byte CONNECTIONS = 0;
    static final byte REQUESTS = 1;

    final EventDecoder decoder = new EventDecoder("l4", "l7");
    final PartitionAggregate aggregate = new PartitionAggregate(0);
    /** The service graph, the ingest thread's listener: told of each event before it is counted. */
    final ServiceGraph graph = new ServiceGraph(Duration.ofSeconds(1), Duration.ofMinutes(1));
    final Map<String, Integer> outcomes = new TreeMap<>();
    long inputs;

    static byte[][] seeds() {
        var flagged = Events.closed(Reporter.DESTINATION, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 4096, 512)
                .toBuilder().setResponseFlags("UF").setError("connection refused").build();
        var unseenOpen = Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE_B, Events.RATINGS, "ratings",
                Long.MAX_VALUE / 2, 1L << 40).toBuilder().setOpenedDropped(true).build();
        var grpc = Events.request(Reporter.WAYPOINT, Events.REVIEWS, Events.RATINGS, "ratings", 200, 3).toBuilder()
                .setProtocol(RequestEvent.Protocol.GRPC).setGrpcStatus(14).setRequestBytes(Long.MAX_VALUE).build();
        List<byte[]> seeds = new ArrayList<>();
        for (ConnectionEvent e : List.of(
                Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews"),
                Events.progress(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", "c1", 1 << 20, 300,
                        0, 0),
                Events.closedAfterProgress(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", "c1",
                        (1 << 20) + 10, 310, 1 << 20, 300),
                flagged, unseenOpen)) {
            seeds.add(record(CONNECTIONS, e.toBuilder().setEventId("e").setConnectionId("c1").build().toByteArray()));
        }
        for (RequestEvent e : List.of(Events.request(Reporter.DESTINATION, Events.PRODUCTPAGE, Events.REVIEWS,
                "reviews", 503, 250), grpc)) {
            seeds.add(record(REQUESTS, e.toBuilder().setEventId("e").build().toByteArray()));
        }
        return seeds.toArray(byte[][]::new);
    }

    @Test
    void recordsAreRefusedByNameOrCountedWithoutACounterGoingBackwards() {
        assertTimeoutPreemptively(Duration.ofSeconds(Long.getLong("fuzz.seconds", 20)
                + TimeUnit.MINUTES.toSeconds(1)), () -> Fuzzer.named("event-record", 1024).seeds(seeds()).mutator(EventRecordFuzz::mutateEvent)
                .run(input -> assertTimeoutPreemptively(SLOW, () -> handle(input),
                        "one record took longer than " + SLOW)), "a fuzz input hung; replay with the printed -Dfuzz.seed");
        checkWhole();
        System.out.println("fuzz event-record: outcomes " + outcomes + ", " + aggregate.seriesCount() + " series, "
                + aggregate.checkpointBytes() + " checkpoint bytes");
        assertThat(outcomes).as("some records must be counted, not only refused").containsKey("counted");
    }

    /**
     * The same checks under Jazzer, coverage-guided through decoding, the series limit and counting (`make fuzz`); the
     * whole aggregate is checked every {@link #CHECK_EVERY} inputs, as for the mutation fuzzer.
     */
    @MethodSource("jazzerSeeds")
    @FuzzTest(maxDuration = "60s")
    void recordsCoverageGuided(byte[] input) throws Exception {
        Fuzzer.withinTwice(SLOW, this::handle, input);
    }

    static Stream<Arguments> jazzerSeeds() {
        return Stream.of(seeds()).map(s -> Arguments.of((Object) s));
    }

    private void handle(byte[] input) {
        inputs++;
        String topic = input.length > 0 && (input[0] & 1) == REQUESTS ? "l7" : "l4";
        byte[] value = input.length == 0 ? input : Arrays.copyOfRange(input, 1, input.length);
        DecodedEvent d = decoder.decode(topic, value);
        if (d instanceof DecodedEvent.Rejected r) {
            assertThat(EventDecoder.REJECTION_REASONS).as("reason of %s", r).contains(r.reason());
            switch (r.reason()) {
                case "undecodable" -> assertThat(r.detail()).startsWith("not a protobuf event: ");
                case "empty_record" -> assertThat(value).isEmpty();
                default -> assertThat(r.detail()).as("the refused field")
                        .matches((topic.equals("l4") ? "ConnectionEvent" : "RequestEvent") + "\\.[a-z_.]+: .+ \\(expected: .+\\)");
            }
            outcomes.merge(r.reason(), 1, Integer::sum);
        } else if (d instanceof DecodedEvent.Connection c) {
            SeriesKey key = aggregate.admit(c.event());
            String overflow = key == null ? null : aggregate.overflow(c.event(), key);
            count(key == null ? "series_limit" : overflow != null ? "counter_overflow" : "counted");
            if (overflow != null) {
                assertThat(overflow).as("the refused field")
                        .matches("ConnectionEvent\\.bytes_(sent|received): adds \\d+ to its series' istio_tcp_"
                                + "(sent|received)_bytes_total, which holds \\d+ \\(expected: at most \\d+ in all\\)");
            } else if (key != null) {
                graph.onConnection(c.event(), key, inputs);
                long[] before = concat(tcp(key), tcp(IstioLabels.withoutFlags(key)));
                aggregate.add(c.event(), key, inputs);
                long[] after = concat(tcp(key), tcp(IstioLabels.withoutFlags(key)));
                notBackwards(c.event().toString(), before, after);
            }
        } else if (d instanceof DecodedEvent.Request q) {
            SeriesKey key = aggregate.admit(q.event());
            count(key == null ? "series_limit" : "counted");
            if (key != null) {
                graph.onRequest(q.event(), key, inputs);
                long[] before = requests(aggregate.requests().get(key));
                aggregate.add(q.event(), key, inputs);
                long[] after = requests(aggregate.requests().get(key));
                notBackwards(q.event().toString(), before, after);
                Distribution duration = aggregate.requests().get(key).durationMillis();
                assertThat(duration.sum()).as("duration sum").isFinite().isNotNegative();
            }
        }
        if (inputs % CHECK_EVERY == 0) {
            aggregate.expire(inputs - IDLE_INPUTS, inputs - IDLE_INPUTS);
            checkWhole();
        }
    }

    private void count(String outcome) {
        outcomes.merge(outcome, 1, Integer::sum);
    }

    /** The checkpoint's size and contents, the exposition of everything counted so far, and the graph. */
    private void checkWhole() {
        graph.committed(inputs);
        assertThat(graph.query(Duration.ofMinutes(1), inputs).toJson().encode()).as("the graph's JSON").startsWith("{");
        byte[] checkpoint = aggregate.encode();
        assertThat(aggregate.checkpointBytes()).as("the checkpoint size the aggregate judges its room by")
                .isEqualTo(checkpoint.length);
        PartitionAggregate read = PartitionAggregate.decode(checkpoint);
        Map<List<String>, String> counted = totals(aggregate);
        Map<List<String>, String> readBack = totals(read);
        List<String> differ = new ArrayList<>();
        counted.forEach((k, v) -> {
            if (!v.equals(readBack.get(k))) {
                differ.add(k + ": counted " + v + ", read back " + readBack.get(k));
            }
        });
        readBack.keySet().stream().filter(k -> !counted.containsKey(k)).forEach(k -> differ.add(k + ": read back only"));
        assertThat(differ).as("series whose checkpoint reads back otherwise").isEmpty();
        PrometheusRegistry registry = new PrometheusRegistry();
        registry.register(new IstioMetrics(() -> MeshTotals.of(List.of(aggregate))));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            ExpositionFormats.init().getPrometheusTextFormatWriter().write(out, registry.scrape());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        for (String line : out.toString(StandardCharsets.UTF_8).split("\n")) {
            if (!line.isEmpty() && !line.startsWith("#")) {
                double v = Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
                assertThat(v).as("served sample %s", line).isNotNaN().isNotNegative();
            }
        }
    }

    /** Every series' totals by its label values (not their string form: a value may hold ", "). */
    private static Map<List<String>, String> totals(PartitionAggregate a) {
        Map<List<String>, String> all = new HashMap<>();
        a.tcp().forEach((k, t) -> all.put(label("tcp", k), Arrays.toString(tcp(t))));
        a.requests().forEach((k, t) -> all.put(label("request", k), Arrays.toString(requests(t))
                + " " + t.durationMillis().sum() + " " + t.requestBytes().sum() + " " + t.responseBytes().sum()));
        return all;
    }

    private static List<String> label(String metric, SeriesKey k) {
        List<String> l = new ArrayList<>(List.of(k.values()));
        l.add(0, metric);
        return l;
    }

    private long[] tcp(SeriesKey key) {
        return tcp(aggregate.tcp().get(key));
    }

    private static long[] tcp(TcpTotals t) {
        return t == null ? new long[5] : new long[] {t.opened(), t.closed(), t.failed(), t.sentBytes(),
            t.receivedBytes()};
    }

    private static long[] requests(RequestTotals t) {
        if (t == null) {
            return new long[1 + 3 * Buckets.count()];
        }
        long[] all = new long[1 + 3 * Buckets.count()];
        all[0] = t.requests();
        int i = 1;
        for (Distribution d : List.of(t.durationMillis(), t.requestBytes(), t.responseBytes())) {
            for (long c : d.bucketCounts()) {
                all[i++] = c;
            }
        }
        return all;
    }

    private static long[] concat(long[] a, long[] b) {
        long[] all = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    private static void notBackwards(String event, long[] before, long[] after) {
        for (int i = 0; i < after.length; i++) {
            assertThat(after[i]).as("counter %s after %s", i, event).isNotNegative().isGreaterThanOrEqualTo(before[i]);
        }
    }

    static final BiFunction<byte[], Random, byte[]> CONNECTION_EVENT =
            ProtoMutator.of(ConnectionEvent.getDefaultInstance(), Map.of());
    static final BiFunction<byte[], Random, byte[]> REQUEST_EVENT =
            ProtoMutator.of(RequestEvent.getDefaultInstance(), Map.of());

    /** A record's event mutated field by field, as the event of its topic. */
    private static byte[] mutateEvent(byte[] input, Random r) {
        if (input.length == 0) {
            return input;
        }
        byte[] value = Arrays.copyOfRange(input, 1, input.length);
        return record(input[0], ((input[0] & 1) == REQUESTS ? REQUEST_EVENT : CONNECTION_EVENT).apply(value, r));
    }

    private static byte[] record(byte topic, byte[] value) {
        byte[] r = new byte[value.length + 1];
        r[0] = topic;
        System.arraycopy(value, 0, r, 1, value.length);
        return r;
    }
}
