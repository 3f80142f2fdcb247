package io.jmesh.telemetry.graph;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.tuple;
import static org.assertj.core.api.Assertions.within;

import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.proto.telemetry.v1.RequestEvent;
import io.jmesh.proto.telemetry.v1.SecurityPolicy;
import io.jmesh.proto.telemetry.v1.WorkloadInfo;
import io.jmesh.telemetry.Events;
import io.jmesh.telemetry.aggregate.IstioLabels;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class ServiceGraphTest {

    private static final long T0 = 1_000_000_000L;
    private final ServiceGraph graph = new ServiceGraph(Duration.ofSeconds(10), Duration.ofMinutes(30));

    @Test
    void edgesGoThroughTheServiceAndCountOneReporterPerEdge() {
        for (int i = 0; i < 30; i++) {
            // both ztunnels report each request's connection; the waypoint reports the request
            request(Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS, "reviews",
                    i < 3 ? 503 : 200, 5), T0);
            connection(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews"), T0);
            connection(Events.opened(Reporter.DESTINATION, Events.PRODUCTPAGE, Events.REVIEWS, "reviews"), T0);
        }
        graph.committed(T0);

        Graph g = graph.query(Duration.ofMinutes(1), T0 + 1000);

        assertThat(g.nodes()).extracting(GraphNode::id).containsExactly("service:reviews.default.svc.cluster.local",
                "workload:default/productpage-v1", "workload:default/reviews-v2");
        assertThat(g.edges()).hasSize(2).allSatisfy(e -> {
            assertThat(e.reporter()).isEqualTo("waypoint");
            assertThat(e.protocol()).isEqualTo("http");
            assertThat(e.requestsPerSecond()).isCloseTo(0.5, within(1e-9)); // 30 in 60 s
            assertThat(e.errorRate()).isCloseTo(0.1, within(1e-9));
            assertThat(e.security()).isEqualTo("mutual_tls");
        });
        assertThat(g.edges().get(0).source()).isEqualTo("service:reviews.default.svc.cluster.local");
        assertThat(g.edges().get(1).source()).isEqualTo("workload:default/productpage-v1");
    }

    @Test
    void tcpOnlyEdgesPreferTheDestinationsReportAndShowPlaintextAsNotMutualTls() {
        connection(Events.closed(Reporter.SOURCE, Events.REVIEWS, Events.RATINGS, null, 100, 200), T0);
        connection(Events.connection(io.jmesh.proto.telemetry.v1.ConnectionEvent.Kind.OPENED,
                Reporter.DESTINATION, Events.REVIEWS, Events.RATINGS, null)
                .setSecurityPolicy(SecurityPolicy.NONE).build(), T0);
        graph.committed(T0);

        GraphEdge e = graph.query(Duration.ofSeconds(10), T0).edges().get(0);

        assertThat(e.reporter()).isEqualTo("destination");
        assertThat(e.protocol()).isEqualTo("tcp");
        assertThat(e.connectionsPerSecond()).isCloseTo(0.1, within(1e-9));
        assertThat(e.security()).as("Istio's word for a connection not over mutual TLS").isEqualTo("unknown");
    }

    /** A CLOSED whose OPENED ztunnel's publisher dropped ({@code opened_dropped}) is the connection's only report. */
    @Test
    void aCloseWhoseOpenedWasDroppedCountsTheConnection() {
        connection(Events.opened(Reporter.DESTINATION, Events.REVIEWS, Events.RATINGS, null), T0);
        connection(Events.closed(Reporter.DESTINATION, Events.REVIEWS, Events.RATINGS, null, 0, 0).toBuilder()
                .setOpenedDropped(true).build(), T0);
        graph.committed(T0);

        GraphEdge e = graph.query(Duration.ofSeconds(10), T0).edges().get(0);

        assertThat(e.connectionsPerSecond()).as("two connections in 10 s").isCloseTo(0.2, within(1e-9));
    }

    /** A PROGRESS adds its bytes and no close; the CLOSED adds the bytes its PROGRESS events did not carry. */
    @Test
    void progressBytesCountAsTheyComeAndAProgressIsNoClose() {
        connection(Events.opened(Reporter.DESTINATION, Events.REVIEWS, Events.RATINGS, null), T0);
        connection(Events.progress(Reporter.DESTINATION, Events.REVIEWS, Events.RATINGS, null, "c1", 60, 120, 0, 0),
                T0);
        connection(Events.closedAfterProgress(Reporter.DESTINATION, Events.REVIEWS, Events.RATINGS, null, "c2", 40,
                80, 0, 0).toBuilder().setResponseFlags("CONNECT").build(), T0);
        graph.committed(T0);
        GraphEdge open = graph.query(Duration.ofSeconds(10), T0).edges().get(0);
        assertThat(open.sentBytesPerSecond()).isCloseTo(10, within(1e-9));
        assertThat(open.receivedBytesPerSecond()).isCloseTo(20, within(1e-9));
        assertThat(open.errorRate()).as("one close, failed: the PROGRESS is no close").isCloseTo(1, within(1e-9));

        connection(Events.closedAfterProgress(Reporter.DESTINATION, Events.REVIEWS, Events.RATINGS, null, "c1", 100,
                150, 60, 120), T0 + 10_000);
        graph.committed(T0 + 10_000);
        GraphEdge later = graph.query(Duration.ofSeconds(10), T0 + 20_000).edges().get(0);
        assertThat(later.sentBytesPerSecond()).as("the rest of c1's total").isCloseTo(4, within(1e-9));
        assertThat(later.receivedBytesPerSecond()).isCloseTo(3, within(1e-9));
    }

    /**
     * A long-lived mutual-TLS connection opened before the window shows in it through its PROGRESS events only: its
     * edge is mutual TLS, not Istio's "unknown" (which the page draws as plaintext).
     */
    @Test
    void anEdgeWithOnlyProgressInTheWindowKeepsItsSecurityPolicy() {
        connection(Events.opened(Reporter.DESTINATION, Events.REVIEWS, Events.RATINGS, null), T0);
        connection(Events.progress(Reporter.DESTINATION, Events.REVIEWS, Events.RATINGS, null, "c1", 60, 120, 0, 0),
                T0 + 60_000);
        graph.committed(T0 + 60_000);

        GraphEdge e = graph.query(Duration.ofSeconds(10), T0 + 60_000).edges().get(0);

        assertThat(e.sentBytesPerSecond()).isGreaterThan(0);
        assertThat(e.security()).isEqualTo("mutual_tls");
    }

    /**
     * A TCP edge's error rate is the share of the connections that ended in the window that failed: connections
     * opened before the window and failing in it made it 3 (three failures over one connection opened).
     */
    @Test
    void aTcpEdgesErrorRateIsFailedClosesOverClosesNeverAboveOne() {
        connection(Events.opened(Reporter.DESTINATION, Events.REVIEWS, Events.RATINGS, null), T0);
        for (int i = 0; i < 3; i++) {
            connection(Events.connection(ConnectionEvent.Kind.CLOSED, Reporter.DESTINATION, Events.REVIEWS,
                    Events.RATINGS, null).setResponseFlags("CONNECT").build(), T0);
        }
        connection(Events.closed(Reporter.DESTINATION, Events.REVIEWS, Events.RATINGS, null, 10, 20), T0);
        graph.committed(T0);

        GraphEdge e = graph.query(Duration.ofSeconds(10), T0).edges().get(0);

        assertThat(e.protocol()).isEqualTo("tcp");
        assertThat(e.errorRate()).as("3 of the 4 connections that ended failed").isCloseTo(0.75, within(1e-9));
    }

    @Test
    void abortedEventsAreForgottenAndOldBucketsLeaveTheWindow() {
        request(Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 200, 5), T0);
        graph.aborted();
        graph.committed(T0);
        assertThat(graph.query(Duration.ofMinutes(5), T0).edges()).isEmpty();

        request(Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 200, 5), T0);
        graph.committed(T0);
        assertThat(graph.query(Duration.ofMinutes(5), T0 + 60_000).edges()).hasSize(2);
        assertThat(graph.query(Duration.ofMinutes(1), T0 + 120_000).edges()).isEmpty();
        assertThat(graph.query(Duration.ofMinutes(5), T0 + 120_000).toJson().getJsonArray("nodes")).hasSize(3);
    }

    @Test
    void steadyTrafficGivesItsRateWhateverTheWindowsAlignmentWithTheBuckets() {
        // windows that begin inside a 10 s bucket, end inside one, or are shorter than one
        long[][] cases = {{29_999, 10}, {29_999, 15}, {25_000, 15}, {25_000, 3}, {20_001, 3}, {20_001, 10}};
        for (long[] c : cases) {
            long now = T0 + c[0];
            Duration window = Duration.ofSeconds(c[1]);
            ServiceGraph g = new ServiceGraph(Duration.ofSeconds(10), Duration.ofMinutes(30));
            // one request a second, half a second past each second, until now
            for (long at = T0 + 500; at <= now; at += 1000) {
                RequestEvent e = Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS, "reviews",
                        200, 5);
                g.onRequest(e, IstioLabels.of(e), at);
            }
            g.committed(now);

            assertThat(g.query(window, now).edges()).as("window %s ending at T0+%d ms", window, c[0])
                    .hasSize(2)
                    .allSatisfy(e -> assertThat(e.requestsPerSecond()).isCloseTo(1.0, within(0.15)));
        }
    }

    @Test
    void trafficFromOutsideTheMeshAndTrafficToOutsideItAreNotOneNode() {
        WorkloadInfo outside = WorkloadInfo.getDefaultInstance();
        // productpage calls an address outside the mesh; a client outside the mesh calls ratings
        connection(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, outside, null), T0);
        connection(Events.opened(Reporter.DESTINATION, outside, Events.RATINGS, null), T0);
        graph.committed(T0);

        Graph g = graph.query(Duration.ofMinutes(1), T0);

        // one "unknown" node for both would draw a path productpage → unknown → ratings that no traffic took
        assertThat(g.edges()).extracting(GraphEdge::source, GraphEdge::target).containsExactlyInAnyOrder(
                tuple("unknown", "workload:default/ratings-v1"),
                tuple("workload:default/productpage-v1", "unknown-destination"));
        assertThat(g.nodes()).extracting(GraphNode::id, GraphNode::kind).contains(tuple("unknown", "unknown"),
                tuple("unknown-destination", "unknown"));
    }

    @Test
    void embeddedJsonCannotCloseTheScriptElement() {
        assertThat(GraphRoutes.scriptSafe("{\"name\":\"</script><b>&\"}"))
                .isEqualTo("{\"name\":\"\\u003c/script\\u003e\\u003cb\\u003e\\u0026\"}");
    }

    private void request(RequestEvent e, long now) {
        graph.onRequest(e, IstioLabels.of(e), now);
    }

    private void connection(ConnectionEvent e, long now) {
        graph.onConnection(e, IstioLabels.of(e), now);
    }
}
