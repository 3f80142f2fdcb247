package io.jmesh.telemetry.aggregate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.telemetry.Events;
import java.util.List;
import org.junit.jupiter.api.Test;

class PartitionAggregateTest {

    @Test
    void aCheckpointDecodesToTheSameSeriesAndOffset() {
        PartitionAggregate a = new PartitionAggregate(-1);
        a.add(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews"), 1000);
        a.add(Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 10, 20), 1000);
        a.add(Events.closed(Reporter.DESTINATION, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 5, 6), 2000);
        a.add(Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 503, 7), 3000);
        a.advanceTo(41);

        PartitionAggregate b = PartitionAggregate.decode(a.encode());

        assertThat(b.nextOffset()).isEqualTo(42);
        assertThat(b.tcp()).hasSize(2);
        assertThat(MeshTotals.of(List.of(b)).connectionsClosed()).isEqualTo(2);
        SeriesKey source = a.tcp().keySet().stream().filter(k -> k.value(0).equals("source")).findFirst().orElseThrow();
        assertThat(b.tcp().get(source).opened()).isEqualTo(1);
        assertThat(b.tcp().get(source).sentBytes()).isEqualTo(10);
        assertThat(b.tcp().get(source).receivedBytes()).isEqualTo(20);
        RequestTotals r = b.requests().values().iterator().next();
        assertThat(r.requests()).isEqualTo(1);
        assertThat(r.durationMillis()).isEqualTo(a.requests().values().iterator().next().durationMillis());
        assertThat(r.durationMillis().bucketCounts()[Buckets.index(7)]).isEqualTo(1);
        assertThat(b.encode()).isEqualTo(a.encode());
    }

    @Test
    void aClosedConnectionWithAnErrorIsAFailedOneAndAVersion1CheckpointStillReads() {
        PartitionAggregate a = new PartitionAggregate(-1);
        a.add(Events.closed(Reporter.DESTINATION, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 0, 0).toBuilder()
                .setResponseFlags("CONNECT").setError("connect to 10.0.0.1:9080 failed").build(), 1000);
        TcpTotals t = PartitionAggregate.decode(a.encode()).tcp().values().iterator().next();
        assertThat(t.closed()).isEqualTo(1);
        assertThat(t.failed()).isEqualTo(1);

        // the same checkpoint as version 1 wrote it, before the failed count: one series, no requests
        byte[] v1 = withoutTcpFields(a.encode(), 2, 1);
        TcpTotals old = PartitionAggregate.decode(v1).tcp().values().iterator().next();
        assertThat(old.closed()).isEqualTo(1);
        assertThat(old.failed()).isZero();
        assertThat(old.lastSeenMillis).isEqualTo(1000);
    }

    @Test
    void aVersion2CheckpointReadsWithNoConnectionOpenAndANewerVersionIsRefusedNamingIt() {
        PartitionAggregate a = new PartitionAggregate(-1);
        a.add(Events.closed(Reporter.DESTINATION, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 0, 0).toBuilder()
                .setResponseFlags("CONNECT").setError("connect to 10.0.0.1:9080 failed").build(), 1000);
        TcpTotals v2 = PartitionAggregate.decode(withoutTcpFields(a.encode(), 1, 2)).tcp().values().iterator().next();
        assertThat(new long[] {v2.closed(), v2.failed(), v2.open(), v2.lastSeenMillis}).containsExactly(1, 1, 0, 1000);

        // a rolling upgrade: a newer replica's checkpoint is refused (the partition is held), never misread
        byte[] newer = a.encode();
        newer[4] = 4;
        assertThatThrownBy(() -> PartitionAggregate.decode(newer))
                .hasMessage("checkpoint version: 4 (expected: 1 to 3)");
    }

    /**
     * A checkpoint of one TCP series and no request series as an older version wrote it: without the last
     * {@code fields} longs before lastSeen (version 3 writes ... failed, open, lastSeen, request series count).
     */
    private static byte[] withoutTcpFields(byte[] v3, int fields, int version) {
        int cut = fields * 8;
        int at = v3.length - 4 - 8 - cut;
        byte[] old = new byte[v3.length - cut];
        System.arraycopy(v3, 0, old, 0, at);
        System.arraycopy(v3, at + cut, old, at, v3.length - at - cut);
        old[4] = (byte) version;
        return old;
    }

    @Test
    void bytesOfAConnectionClosedWithFlagsCountInItsSeriesAsOpenedAsZtunnelCountsThem() {
        // ztunnel adds relayed bytes to the series it resolved at open (response_flags="-"); only the close and the
        // failure carry the flags
        PartitionAggregate a = new PartitionAggregate(-1);
        a.add(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews"), 1000);
        a.add(Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 7, 9).toBuilder()
                .setResponseFlags("CONNECT").setError("tunnel broken").build(), 2000);
        int flags = IstioLabels.TCP.indexOf("response_flags");
        assertThat(a.tcp()).hasSize(2).allSatisfy((k, t) -> {
            if (k.value(flags).equals("-")) {
                assertThat(new long[] {t.opened(), t.closed(), t.failed(), t.sentBytes(), t.receivedBytes()})
                        .containsExactly(1, 0, 0, 7, 9);
            } else {
                assertThat(k.value(flags)).isEqualTo("CONNECT");
                assertThat(new long[] {t.opened(), t.closed(), t.failed(), t.sentBytes(), t.receivedBytes()})
                        .containsExactly(0, 1, 1, 0, 0);
            }
        });
    }

    @Test
    void theCheckpointSizeIsKnownWithoutEncodingAndBoundsTheSeries() {
        PartitionAggregate a = new PartitionAggregate(-1);
        assertThat(a.checkpointBytes()).isEqualTo(a.encode().length);
        a.add(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews"), 1000);
        a.add(Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 7, 9).toBuilder()
                .setResponseFlags("CONNECT").setError("tunnel broken").build(), 1000);
        a.add(Events.closed(Reporter.SOURCE, Events.workload("é-" + "\u4e2d".repeat(9), "x", "v"), Events.REVIEWS,
                "reviews", 1, 1).toBuilder().setResponseFlags("DENY").setError("denied").build(), 2000);
        a.add(Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 503, 7), 3000);
        assertThat(a.checkpointBytes()).isEqualTo(a.encode().length);
        assertThat(PartitionAggregate.decode(a.encode()).checkpointBytes()).isEqualTo(a.encode().length);
        a.expire(1500, 1500);
        assertThat(a.seriesCount()).isEqualTo(3);
        assertThat(a.checkpointBytes()).isEqualTo(a.encode().length);

        // distinct 1000-character labels: each new series costs ~8 kB; the aggregate stops at the limit
        PartitionAggregate big = new PartitionAggregate(-1);
        int refused = 0;
        io.jmesh.proto.telemetry.v1.RequestEvent first = null;
        for (int i = 0; i < 2500; i++) {
            String u = String.format("%04d", i).repeat(250);
            var e = Events.request(Reporter.WAYPOINT, Events.workload(u, "a" + u, "v" + u),
                    Events.workload("d" + u, "b" + u, "w" + u), "reviews", 200, 1);
            first = first == null ? e : first;
            if (big.add(e, 1000) == null) {
                refused++;
            }
        }
        assertThat(refused).isPositive();
        assertThat(big.checkpointBytes()).isEqualTo(big.encode().length)
                .isLessThanOrEqualTo(PartitionAggregate.MAX_CHECKPOINT_BYTES);
        // an existing series is still counted
        SeriesKey key = IstioLabels.of(first);
        long before = big.requests().get(key).requests();
        assertThat(big.add(first, 2000)).isEqualTo(key);
        assertThat(big.requests().get(key).requests()).isEqualTo(before + 1);
    }

    @Test
    void aCloseNeedingTwoNewSeriesWhereOnlyOneFitsIsRefusedWhole() {
        // a close with response flags and bytes of a new connection needs two new series: its own, and the one of
        // the connection as opened (flags "-") for its bytes and, with opened_dropped, its open
        var close = Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.workload("last", "last", "v9"), "last",
                5, 6).toBuilder().setResponseFlags("DENY").setError("denied").setOpenedDropped(true).build();
        var open = Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.workload("last", "last", "v9"), "last");
        PartitionAggregate a = new PartitionAggregate(-1);
        // every value the fine fillers use exists first, so that each of them costs exactly one series' bytes
        List<io.jmesh.proto.telemetry.v1.WorkloadInfo> w = List.of(Events.PRODUCTPAGE, Events.REVIEWS, Events.RATINGS);
        List<io.jmesh.proto.telemetry.v1.ConnectionEvent> fine = new java.util.ArrayList<>();
        for (Reporter r : List.of(Reporter.SOURCE, Reporter.DESTINATION)) {
            for (var src : w) {
                for (var dst : w) {
                    for (String svc : List.of("reviews", "ratings", "productpage")) {
                        if (r != Reporter.DESTINATION || src != dst || !svc.equals(src.getApp())) { // not a seed
                            fine.add(Events.opened(r, src, dst, svc));
                        }
                    }
                }
            }
        }
        for (var x : w) { // seeds every value of each workload and service (the dictionary ignores the position)
            a.add(Events.opened(Reporter.DESTINATION, x, x, x.getApp()), 1000);
        }
        for (int i = 0; i < 200_000 && PartitionAggregate.MAX_CHECKPOINT_BYTES - a.checkpointBytes() > 4096; i++) {
            a.add(Events.opened(Reporter.SOURCE, Events.workload("w" + i, "reviews", "v2"), Events.REVIEWS, "reviews"),
                    1000);
        }
        while (!fine.isEmpty() && a.admit(close) != null) {
            a.add(fine.remove(fine.size() - 1), 1000);
        }
        assertThat(a.admit(close)).as("the close, needing two series").isNull();
        assertThat(a.admit(open)).as("the open, needing one of them").isNotNull();
        byte[] before = a.encode();

        assertThat(a.add(close, 2000)).isNull();

        assertThat(a.encode()).as("nothing of the refused close counted").isEqualTo(before);
        assertThat(a.checkpointBytes()).isEqualTo(before.length);
    }

    @Test
    void seriesNotUpdatedSinceTheCutoffExpire() {
        PartitionAggregate a = new PartitionAggregate(0);
        a.add(Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 0, 0), 1000);
        a.add(Events.closed(Reporter.SOURCE, Events.REVIEWS, Events.RATINGS, "ratings", 0, 0), 5000);

        assertThat(a.expire(4000, 0)).isEqualTo(new Expired(1, 0));

        assertThat(a.tcp().keySet()).singleElement().satisfies(k -> assertThat(k.value(1)).isEqualTo("reviews-v2"));
    }

    @Test
    void aSeriesWithAConnectionStillOpenOutlivesTheTtlAcrossACheckpoint() {
        // ztunnel reports a connection at open and at close only: a connection open for longer than the TTL updates
        // nothing in between, and its series must stay so that its close adds to the same counters
        PartitionAggregate a = new PartitionAggregate(0);
        a.add(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews"), 1000);
        a.add(Events.opened(Reporter.SOURCE, Events.REVIEWS, Events.RATINGS, "ratings"), 1000);
        a.add(Events.closed(Reporter.SOURCE, Events.REVIEWS, Events.RATINGS, "ratings", 0, 0), 1000);
        PartitionAggregate restarted = PartitionAggregate.decode(a.encode());

        assertThat(restarted.expire(4000, 500)).isEqualTo(new Expired(1, 0));

        SeriesKey open = restarted.tcp().keySet().stream().filter(k -> k.value(1).equals("productpage-v1"))
                .findFirst().orElseThrow(() -> new AssertionError("the series of the open connection expired: "
                        + restarted.tcp().keySet()));
        assertThat(restarted.tcp().get(open).open()).isEqualTo(1);
        restarted.add(Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 10, 20), 5000);
        TcpTotals t = restarted.tcp().get(open);
        assertThat(new long[] {t.opened(), t.closed(), t.sentBytes(), t.receivedBytes(), t.open()})
                .containsExactly(1, 1, 10, 20, 0);
        // closed: an idle series again, gone one TTL after its close
        assertThat(restarted.expire(4000, 500)).isEqualTo(Expired.NONE);
        assertThat(restarted.expire(6000, 500)).isEqualTo(new Expired(1, 0));
    }

    @Test
    void aCloseWithFlagsEndsTheConnectionOpenedWithoutThemAndALostCloseIsBoundedByTheOpenCutoff() {
        PartitionAggregate a = new PartitionAggregate(0);
        a.add(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews"), 1000);
        a.add(Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 0, 0).toBuilder()
                .setResponseFlags("CONNECT").setError("tunnel broken").build(), 2000);
        a.add(Events.opened(Reporter.SOURCE, Events.REVIEWS, Events.RATINGS, "ratings"), 2000); // its close is lost
        assertThat(a.tcp().values()).extracting(TcpTotals::open).containsExactlyInAnyOrder(0L, 0L, 1L);

        // the flagged close ended the connection of the series without flags: both go after the TTL
        assertThat(a.expire(3000, 0)).isEqualTo(new Expired(2, 0));
        assertThat(a.tcp().keySet()).singleElement().satisfies(k -> assertThat(k.value(1)).isEqualTo("reviews-v2"));
        // the series whose close never came stays up to the open cutoff, and says so when it goes
        assertThat(a.expire(1_000_000, 1999)).isEqualTo(Expired.NONE);
        assertThat(a.expire(1_000_000, 2001)).isEqualTo(new Expired(1, 1));
        assertThat(a.checkpointBytes()).isEqualTo(a.encode().length);
    }

    @Test
    void aCloseWhoseOpenedWasDroppedCountsTheOpenAndEndsNoOtherConnection() {
        PartitionAggregate a = new PartitionAggregate(0);
        // connection 1 is open (its OPENED arrived); connection 2's OPENED was dropped by ztunnel's publisher
        var opened = Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews");
        a.add(opened, 1000);
        a.add(Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 3, 4).toBuilder()
                .setOpenedDropped(true).build(), 2000);
        // and connection 3's, which closed with flags: ztunnel counted it opened on the series without them
        a.add(Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 0, 0).toBuilder()
                .setResponseFlags("CONNECT").setError("connect refused").setOpenedDropped(true).build(), 2000);

        TcpTotals t = a.tcp().get(IstioLabels.of(opened));
        assertThat(new long[] {t.opened(), t.closed(), t.open(), t.sentBytes(), t.receivedBytes()})
                .as("opened, closed, open, sent, received of the series as opened").containsExactly(3, 1, 1, 3, 4);
        assertThat(MeshTotals.of(List.of(a)).connectionsClosed()).isEqualTo(2);
        // connection 1 is still open: its series outlives the TTL of idle series
        assertThat(a.expire(3000, 0)).isEqualTo(new Expired(1, 0)); // the flagged series only
        assertThat(a.tcp()).containsKey(IstioLabels.of(opened));
        assertThat(a.checkpointBytes()).isEqualTo(a.encode().length);
    }

    @Test
    void progressAndCloseCountEachByteOnceInEitherOrderAndLeaveTheOpenCountToOpenedAndClosed() {
        PartitionAggregate inOrder = new PartitionAggregate(-1);
        PartitionAggregate raced = new PartitionAggregate(-1);
        var opened = Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews");
        var first = Events.progress(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", "c1", 10, 20, 0, 0);
        var second = Events.progress(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", "c1", 5, 7, 10,
                20);
        // the close failed: its series has the flags, the bytes go to the series as opened
        var closed = Events.closedAfterProgress(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", "c1",
                18, 30, 15, 27).toBuilder().setResponseFlags("CONNECT").setError("broken tunnel").build();
        for (var e : List.of(opened, first, second, closed)) {
            inOrder.add(e, 1000);
        }
        // ztunnel's progress task and the close run on different threads: a PROGRESS may land after the CLOSED
        for (var e : List.of(opened, first, closed, second)) {
            raced.add(e, 1000);
        }
        for (PartitionAggregate a : List.of(inOrder, raced)) {
            SeriesKey asOpened = IstioLabels.of(opened);
            TcpTotals t = a.tcp().get(asOpened);
            assertThat(new long[] {t.opened(), t.open(), t.sentBytes(), t.receivedBytes()})
                    .containsExactly(1, 0, 18, 30);
            assertThat(a.tcp().get(IstioLabels.of(closed)).closed()).isEqualTo(1);
            assertThat(MeshTotals.of(List.of(a)).connectionsClosed()).isEqualTo(1);
        }

        // an open connection's series moved by a PROGRESS counts as updated: it is in use
        PartitionAggregate open = new PartitionAggregate(-1);
        open.add(opened, 1000);
        open.add(first, 5000);
        assertThat(open.expire(4000, 0)).isEqualTo(Expired.NONE);
        // a CLOSED from a ztunnel that sends no PROGRESS reports nothing: its totals count
        open.add(Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 3, 4), 6000);
        assertThat(open.tcp().get(IstioLabels.of(opened)).sentBytes()).isEqualTo(13);
    }

    @Test
    void bytesThatWouldTakeACounterPastLongMaxAreRefusedNamingTheFieldAndMergedSeriesStopThere() {
        // a counter past Long.MAX_VALUE reads negative: Prometheus takes it for a reset and counts all it held again
        PartitionAggregate a = new PartitionAggregate(0);
        var closed = Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 10, 20);
        SeriesKey key = a.add(closed, 1000);
        assertThat(a.add(closed.toBuilder().setBytesSent(Long.MAX_VALUE - 10).build(), 1000)).isEqualTo(key);
        var more = closed.toBuilder().setBytesSent(1).build();
        assertThat(a.overflow(more, key)).isEqualTo("ConnectionEvent.bytes_sent: adds 1 to its series'"
                + " istio_tcp_sent_bytes_total, which holds 9223372036854775807 (expected: at most"
                + " 9223372036854775807 in all)");
        assertThat(a.add(more, 2000)).as("refused whole: nothing counted").isNull();
        // a flagged close's bytes go to the series as opened: that is the counter judged
        var flagged = Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 0, Long.MAX_VALUE)
                .toBuilder().setResponseFlags("UF").build();
        assertThat(a.overflow(flagged, a.admit(flagged))).startsWith("ConnectionEvent.bytes_received: adds "
                + Long.MAX_VALUE + " to its series' istio_tcp_received_bytes_total, which holds 40 ");
        // an OPENED adds no bytes, whatever the series holds
        assertThat(a.overflow(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews"), key))
                .isNull();
        TcpTotals t = a.tcp().get(key);
        assertThat(List.of(t.closed(), t.sentBytes(), t.receivedBytes())).containsExactly(2L, Long.MAX_VALUE, 40L);

        // two partitions' shares of one series, summed (tests and logs), stop at Long.MAX_VALUE
        PartitionAggregate b = new PartitionAggregate(0);
        b.add(closed, 1000);
        assertThat(MeshTotals.of(List.of(a, b)).tcp().get(key).sentBytes()).isEqualTo(Long.MAX_VALUE);
        assertThat(MeshTotals.of(List.of(a, b)).tcp().get(key).receivedBytes()).isEqualTo(60);
    }

    @Test
    void aCorruptCheckpointIsRejectedNamingWhatIsWrong() {
        byte[] bytes = new PartitionAggregate(3).encode();
        bytes[0] = 0;
        assertThatThrownBy(() -> PartitionAggregate.decode(bytes)).hasMessageStartingWith("checkpoint magic:");
        byte[] truncated = java.util.Arrays.copyOf(new PartitionAggregate(3).encode(), 10);
        assertThatThrownBy(() -> PartitionAggregate.decode(truncated)).hasMessageStartingWith("checkpoint truncated");
        // a count below zero would be served as one and read by Prometheus as a reset (found by CheckpointFuzz)
        PartitionAggregate a = new PartitionAggregate(0);
        a.add(Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 10, 20), 1000);
        byte[] counted = a.encode();
        int opened = counted.length - 7 * 8 - 4; // the one TCP series' seven longs, then the request series count
        java.nio.ByteBuffer.wrap(counted).putLong(opened + 3 * 8, -5); // bytes received
        assertThatThrownBy(() -> PartitionAggregate.decode(counted))
                .hasMessage("checkpoint bytes received: -5 (expected: >= 0)");
        a.add(Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 200, 7), 1000);
        byte[] withRequest = a.encode();
        java.nio.ByteBuffer.wrap(withRequest).putDouble(withRequest.length - 8 - 8, Double.NaN); // response bytes' sum
        assertThatThrownBy(() -> PartitionAggregate.decode(withRequest))
                .hasMessage("checkpoint histogram sum: NaN (expected: finite, >= 0)");
    }

    @Test
    void bucketsFollowEnvoysBoundsWithAnUpperBoundInclusive() {
        assertThat(Buckets.index(0)).isEqualTo(0);
        assertThat(Buckets.index(0.5)).isEqualTo(0);
        assertThat(Buckets.index(0.6)).isEqualTo(1);
        assertThat(Buckets.index(3_600_000)).isEqualTo(18);
        assertThat(Buckets.index(3_600_001)).isEqualTo(19);
        assertThat(Buckets.count()).isEqualTo(20);
    }
}
