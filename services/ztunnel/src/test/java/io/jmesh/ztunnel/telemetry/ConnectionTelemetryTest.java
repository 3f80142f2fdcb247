package io.jmesh.ztunnel.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** {@link ConnectionTelemetry} on its own registry: what each counter holds, and when. */
class ConnectionTelemetryTest {

    static final Workload CLIENT = workload("client-1", "client", "10.0.0.1");
    static final Workload SERVER = workload("server-1", "server", "10.0.0.2");

    final PrometheusRegistry registry = new PrometheusRegistry();
    final ConnectionTelemetry telemetry = new ConnectionTelemetry(registry, null, false, "node-a");

    static Workload workload(String uid, String name, String ip) {
        byte[] raw = new InetSocketAddress(ip, 0).getAddress().getAddress();
        return Workload.newBuilder().setUid(uid).setName(uid).setWorkloadName(name).setNamespace("default")
                .setCanonicalName(name).setCanonicalRevision("v1").addAddresses(ByteString.copyFrom(raw)).build();
    }

    static ConnectionInfo outbound(Workload source, Workload destination) {
        return new ConnectionInfo(true, source, destination, SpiffeId.parse("spiffe://cluster.local/ns/default/sa/x"),
                null, null, new InetSocketAddress("10.0.0.1", 40000), new InetSocketAddress("10.0.0.2", 15008),
                "10.0.0.2:80", true);
    }

    List<CounterSnapshot.CounterDataPointSnapshot> series(String name) {
        return registry.scrape().stream().filter(m -> m.getMetadata().getName().equals(name))
                .flatMap(m -> ((CounterSnapshot) m).getDataPoints().stream()).toList();
    }

    double sum(String name) {
        return series(name).stream().mapToDouble(CounterSnapshot.CounterDataPointSnapshot::getValue).sum();
    }

    @Test
    void bytesAddedWhileOpenAreNotAddedAgainAtClose() {
        ConnectionTelemetry.Tracked t = telemetry.opened(outbound(CLIENT, SERVER));
        t.bytesFromSource().inc(100);
        t.bytesToSource().inc(40);
        assertThat(sum("istio_tcp_received_bytes")).isEqualTo(100);
        assertThat(sum("istio_tcp_sent_bytes")).isEqualTo(40);

        t.close(100, 40, "-", null);
        assertThat(sum("istio_tcp_received_bytes")).isEqualTo(100);
        assertThat(sum("istio_tcp_sent_bytes")).isEqualTo(40);
        assertThat(sum("istio_tcp_connections_closed")).isEqualTo(1);
    }

    @Test
    void bytesStayInTheSeriesTheConnectionOpenedWithWhateverFlagItClosesWith() {
        ConnectionTelemetry.Tracked t = telemetry.opened(outbound(CLIENT, SERVER));
        t.bytesFromSource().inc(5);
        t.close(5, 0, "CONNECT", "stream reset by peer: INTERNAL_ERROR");
        assertThat(series("istio_tcp_received_bytes")).singleElement()
                .satisfies(s -> assertThat(s.getLabels().get("response_flags")).isEqualTo("-"));
        assertThat(series("istio_tcp_connections_closed")).singleElement()
                .satisfies(s -> assertThat(s.getLabels().get("response_flags")).isEqualTo("CONNECT"));
    }

    static Address address(Workload w) {
        return Address.newBuilder().setWorkload(w).build();
    }

    static final List<String> TCP = List.of("istio_tcp_connections_opened", "istio_tcp_connections_closed",
            "istio_tcp_received_bytes", "istio_tcp_sent_bytes");

    @Test
    void aWorkloadsSeriesStayWhileAnotherOfItsPodsRemains() {
        Workload server2 = workload("server-2", "server", "10.0.0.3");
        WorkloadStore store = new WorkloadStore();
        store.replaceAll(Map.of("client-1", address(CLIENT), "server-1", address(SERVER), "server-2",
                address(server2)));
        telemetry.expire(store.current());
        telemetry.opened(outbound(CLIENT, SERVER)).close(1, 1, "-", null);

        store.apply(Map.of(), List.of("server-1"));
        telemetry.expire(store.current());
        for (String name : TCP) {
            assertThat(series(name)).as(name + ": server-2 is still a pod of workload server").hasSize(1);
        }

        store.apply(Map.of(), List.of("server-2"));
        telemetry.expire(store.current());
        for (String name : TCP) {
            assertThat(series(name)).as(name + ": no pod of server is left").isEmpty();
        }
    }

    @Test
    void aPushExpiresOnlyTheSeriesOfTheWorkloadsItRemoved() {
        WorkloadStore store = new WorkloadStore();
        store.replaceAll(Map.of("client-1", address(CLIENT), "server-1", address(SERVER)));
        telemetry.expire(store.current());
        // an inbound tunnel from another network: its source is what its baggage names, never a workload held here
        Workload remote = Workload.newBuilder().setName("remote").setWorkloadName("remote").setNamespace("west")
                .build();
        telemetry.opened(new ConnectionInfo(false, remote, SERVER, null, null, null,
                new InetSocketAddress("10.9.0.1", 40000), new InetSocketAddress("10.0.0.2", 15008), "10.0.0.2:80",
                true)).close(0, 0, "-", null);
        telemetry.opened(outbound(CLIENT, SERVER)).close(0, 0, "-", null);

        store.apply(Map.of("other-1", address(workload("other-1", "other", "10.0.0.9"))), List.of());
        telemetry.expire(store.current());
        assertThat(series("istio_tcp_connections_closed")).as("a push that removed nothing removes no series")
                .hasSize(2);

        store.apply(Map.of(), List.of("client-1"));
        telemetry.expire(store.current());
        assertThat(series("istio_tcp_connections_closed")).singleElement()
                .satisfies(s -> assertThat(s.getLabels().get("source_workload")).isEqualTo("remote"));
    }

    static final java.time.Duration WINDOW = java.time.Duration.ofMinutes(10);

    /** An inbound tunnel from another network: its source is what its baggage names, never a workload held here. */
    static ConnectionInfo fromRemote() {
        Workload remote = Workload.newBuilder().setName("remote").setWorkloadName("remote").setNamespace("west")
                .build();
        return new ConnectionInfo(false, remote, SERVER, null, null, null, new InetSocketAddress("10.9.0.1", 40000),
                new InetSocketAddress("10.0.0.2", 15008), "10.0.0.2:80", true);
    }

    @Test
    void aRemotePeersSeriesExpireOnceIdleForTheWindow() {
        AtomicLong now = new AtomicLong();
        PrometheusRegistry registry = new PrometheusRegistry();
        ConnectionTelemetry telemetry = new ConnectionTelemetry(registry, null, false, "node-a", WINDOW, now::get);
        ConnectionTelemetry.Tracked t = telemetry.opened(fromRemote());
        t.bytesFromSource().inc(7);
        t.close(7, 0, "CONNECT", "connection refused");

        now.addAndGet(WINDOW.toNanos() - 1);
        assertThat(names(registry)).as("idle for less than the window").containsAll(TCP);
        now.addAndGet(1);
        assertThat(names(registry)).as("idle for the window: whoever the peer, the series go")
                .doesNotContainAnyElementsOf(TCP).doesNotContain("istio_tcp_connections_failed");
    }

    @Test
    void aLongLivedConnectionKeepsItsSeriesHoweverLongItIsOpen() {
        AtomicLong now = new AtomicLong();
        PrometheusRegistry registry = new PrometheusRegistry();
        ConnectionTelemetry telemetry = new ConnectionTelemetry(registry, null, false, "node-a", WINDOW, now::get);
        ConnectionTelemetry.Tracked live = telemetry.opened(fromRemote());
        // another connection of the same series closes: the series is still in use
        telemetry.opened(fromRemote()).close(0, 0, "-", null);
        now.addAndGet(3 * WINDOW.toNanos());
        assertThat(names(registry)).containsAll(List.of("istio_tcp_connections_opened",
                "istio_tcp_connections_closed", "istio_tcp_received_bytes"));
        live.bytesFromSource().inc(5);
        assertThat(series(registry, "istio_tcp_received_bytes")).singleElement()
                .satisfies(s -> assertThat(s.getValue()).isEqualTo(5));
        assertThat(series(registry, "istio_tcp_connections_opened")).singleElement()
                .satisfies(s -> assertThat(s.getValue()).isEqualTo(2));

        live.close(5, 0, "-", null);
        now.addAndGet(WINDOW.toNanos());
        assertThat(names(registry)).doesNotContainAnyElementsOf(TCP);
    }

    @Test
    void aConnectionOpenWhenItsWorkloadIsRemovedKeepsItsSeries() {
        WorkloadStore store = new WorkloadStore();
        store.replaceAll(Map.of("client-1", address(CLIENT), "server-1", address(SERVER)));
        telemetry.expire(store.current());
        ConnectionTelemetry.Tracked t = telemetry.opened(outbound(CLIENT, SERVER));
        t.bytesFromSource().inc(3);

        store.apply(Map.of(), List.of("client-1"));
        telemetry.expire(store.current());
        t.bytesFromSource().inc(4);
        assertThat(sum("istio_tcp_received_bytes")).as("bytes of a connection still open").isEqualTo(7);
        assertThat(sum("istio_tcp_connections_opened")).isEqualTo(1);
        t.close(7, 0, "-", null);
        assertThat(sum("istio_tcp_connections_closed")).isEqualTo(1);
    }

    /**
     * Connections open and close on one series while scrapes expire it between them (a window of 1 ns: idle is
     * expired at once): each connection, while open, finds its bytes in the registry, never in a series removed
     * under it.
     */
    @Test
    void aSeriesExpiringWhileAConnectionOpensOnItIsNeverRemovedUnderTheConnection() throws Exception {
        AtomicLong now = new AtomicLong();
        PrometheusRegistry registry = new PrometheusRegistry();
        ConnectionTelemetry telemetry = new ConnectionTelemetry(registry, null, false, "node-a",
                java.time.Duration.ofNanos(1), now::get);
        java.util.concurrent.atomic.AtomicBoolean done = new java.util.concurrent.atomic.AtomicBoolean();
        Thread scraper = new Thread(() -> {
            while (!done.get()) {
                now.incrementAndGet();
                registry.scrape();
            }
        });
        scraper.start();
        try {
            for (int i = 0; i < 2_000; i++) {
                ConnectionTelemetry.Tracked t = telemetry.opened(fromRemote());
                t.bytesFromSource().inc(1);
                assertThat(series(registry, "istio_tcp_received_bytes")).as("connection %d, open", i)
                        .singleElement().satisfies(s -> assertThat(s.getValue()).isGreaterThanOrEqualTo(1));
                t.close(1, 0, "-", null);
            }
        } finally {
            done.set(true);
            scraper.join(10_000);
        }
    }

    static List<String> names(PrometheusRegistry registry) {
        return registry.scrape().stream().filter(m -> !m.getDataPoints().isEmpty())
                .map(m -> m.getMetadata().getName()).toList();
    }

    static List<CounterSnapshot.CounterDataPointSnapshot> series(PrometheusRegistry registry, String name) {
        return registry.scrape().stream().filter(m -> m.getMetadata().getName().equals(name))
                .flatMap(m -> ((CounterSnapshot) m).getDataPoints().stream()).toList();
    }
}
