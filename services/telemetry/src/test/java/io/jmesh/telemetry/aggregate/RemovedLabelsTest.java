package io.jmesh.telemetry.aggregate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.telemetry.Events;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@code metrics.removeLabels}: events that differ only in removed labels are counted in one series, which never
 * goes back, and checkpoints written with other labels removed are made to fit, nothing lost.
 */
class RemovedLabelsTest {

    private static final int PRINCIPAL = IstioLabels.TCP.indexOf("source_principal");
    private static final int FLAGS = IstioLabels.TCP.indexOf("response_flags");
    private static final int CODE = IstioLabels.REQUEST.indexOf("response_code");


    @Test
    void onlyIstiosTrafficLabelsOtherThanReporterCanBeRemoved() {
        assertThat(RemovedLabels.of(List.of())).isSameAs(RemovedLabels.NONE);
        assertThat(RemovedLabels.of(null).isEmpty()).isTrue();
        assertThat(RemovedLabels.of(List.of("source_principal", "response_code", "source_principal")).names())
                .containsExactly("source_principal", "response_code");
        assertThatThrownBy(() -> RemovedLabels.of(List.of("source_principal", "pod_name")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("metrics.removeLabels: 'pod_name' is not a label of the istio_tcp_* and "
                        + "istio_request* metrics (expected some of: source_workload, ")
                .hasMessageContaining("grpc_response_status)");
        assertThatThrownBy(() -> RemovedLabels.of(List.of("reporter")))
                .hasMessageContaining("metrics.removeLabels: 'reporter' cannot be removed");
        assertThatThrownBy(() -> RemovedLabels.of(List.of("partition")))
                .hasMessageContaining("metrics.removeLabels: 'partition' cannot be removed");
    }

    @Test
    void connectionsThatDifferOnlyInARemovedLabelShareASeries() {
        PartitionAggregate a = new PartitionAggregate(0, RemovedLabels.of(List.of("source_principal")));
        a.add(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews"), 1000);
        a.add(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE_B, Events.REVIEWS, "reviews"), 2000);
        a.add(Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 100, 10), 3000);

        assertThat(a.tcp()).hasSize(1);
        SeriesKey key = a.tcp().keySet().iterator().next();
        assertThat(key.value(PRINCIPAL)).isEqualTo(RemovedLabels.VALUE);
        TcpTotals t = a.tcp().get(key);
        assertThat(t.opened()).isEqualTo(2);
        assertThat(t.closed()).isEqualTo(1);
        assertThat(t.open()).isEqualTo(1); // the other pod's connection is still open
        assertThat(t.sentBytes()).isEqualTo(100);

        // kept apart when the label is kept
        PartitionAggregate all = new PartitionAggregate(0);
        all.add(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews"), 1000);
        all.add(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE_B, Events.REVIEWS, "reviews"), 2000);
        assertThat(all.tcp()).hasSize(2);
    }

    @Test
    void withoutResponseFlagsAFlaggedCloseEndsItsOpenInTheSameSeries() {
        PartitionAggregate a = new PartitionAggregate(0, RemovedLabels.of(List.of("response_flags")));
        a.add(Events.opened(Reporter.DESTINATION, Events.PRODUCTPAGE, Events.REVIEWS, "reviews"), 1000);
        ConnectionEvent refused = Events.closed(Reporter.DESTINATION, Events.PRODUCTPAGE, Events.REVIEWS, "reviews",
                0, 0).toBuilder().setResponseFlags("CONNECT").setError("connection refused").build();
        a.add(refused, 2000);

        assertThat(a.tcp()).hasSize(1); // no "-" series beside a "CONNECT" one
        SeriesKey key = a.tcp().keySet().iterator().next();
        assertThat(key.value(FLAGS)).isEqualTo(RemovedLabels.VALUE);
        TcpTotals t = a.tcp().get(key);
        assertThat(t.opened()).isEqualTo(1);
        assertThat(t.closed()).isEqualTo(1);
        assertThat(t.failed()).isEqualTo(1);
        assertThat(t.open()).isZero();
    }

    @Test
    void requestsOfDifferentResponseCodesShareASeriesWithoutTheLabel() {
        PartitionAggregate a = new PartitionAggregate(0, RemovedLabels.of(List.of("response_code")));
        a.add(Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 200, 7), 1000);
        a.add(Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 503, 70), 1000);
        assertThat(a.requests()).hasSize(1);
        SeriesKey key = a.requests().keySet().iterator().next();
        assertThat(key.value(CODE)).isEqualTo(RemovedLabels.VALUE);
        RequestTotals t = a.requests().get(key);
        assertThat(t.requests()).isEqualTo(2);
        assertThat(t.durationMillis().sum()).isEqualTo(77.0);
    }

    @Test
    void aCheckpointWrittenWithEveryLabelIsMergedWhenALabelIsRemovedAtTheNextStart() {
        PartitionAggregate before = new PartitionAggregate(0);
        before.add(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews"), 1000);
        before.add(Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 100, 10), 2000);
        before.add(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE_B, Events.REVIEWS, "reviews"), 5000);
        before.add(Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 200, 7), 1000);
        before.add(Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE_B, Events.REVIEWS, "reviews", 200, 9), 1000);
        before.advanceTo(41);
        assertThat(before.tcp()).hasSize(2);

        PartitionAggregate after = PartitionAggregate.decode(before.encode(),
                RemovedLabels.of(List.of("source_principal")));
        assertThat(after.nextOffset()).isEqualTo(42);
        assertThat(after.tcp()).hasSize(1);
        TcpTotals t = after.tcp().values().iterator().next();
        assertThat(t.opened()).isEqualTo(2);
        assertThat(t.closed()).isEqualTo(1);
        assertThat(t.open()).isEqualTo(1);
        assertThat(t.sentBytes()).isEqualTo(100);
        assertThat(t.lastSeenMillis).isEqualTo(5000);
        assertThat(after.requests()).hasSize(1);
        assertThat(after.requests().values().iterator().next().requests()).isEqualTo(2);

        // the connection still open closes on the merged series, and what is counted next joins it
        after.add(Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE_B, Events.REVIEWS, "reviews", 5, 5), 6000);
        assertThat(after.tcp()).hasSize(1);
        assertThat(t.closed()).isEqualTo(2);
        assertThat(t.open()).isZero();

        // its checkpoint is one of this version, its size as accounted
        byte[] again = after.encode();
        assertThat((long) again.length).isEqualTo(after.checkpointBytes());
        assertThat(PartitionAggregate.decode(again, RemovedLabels.of(List.of("source_principal"))).encode())
                .isEqualTo(again);
    }

    @Test
    void aLabelNoLongerRemovedReadsUnknownInWhatWasCountedWithoutIt() {
        PartitionAggregate without = new PartitionAggregate(0, RemovedLabels.of(List.of("source_principal")));
        without.add(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews"), 1000);
        without.add(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE_B, Events.REVIEWS, "reviews"), 1000);

        PartitionAggregate restored = PartitionAggregate.decode(without.encode());
        assertThat(restored.tcp()).hasSize(1);
        SeriesKey key = restored.tcp().keySet().iterator().next();
        assertThat(key.value(PRINCIPAL)).isEqualTo(IstioLabels.UNKNOWN);
        assertThat(restored.tcp().get(key).opened()).isEqualTo(2);

        // new events get their principal again, in series of their own
        restored.add(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews"), 2000);
        assertThat(restored.tcp()).hasSize(2);
        assertThat(restored.tcp().keySet()).extracting(k -> k.value(PRINCIPAL))
                .containsExactlyInAnyOrder(IstioLabels.UNKNOWN, Events.PRODUCTPAGE.getPrincipal());
    }
}
