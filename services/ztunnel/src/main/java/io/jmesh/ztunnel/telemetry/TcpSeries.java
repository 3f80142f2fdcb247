package io.jmesh.ztunnel.telemetry;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.MetricFamilyDescriptor;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;
import java.util.function.Predicate;

/**
 * The {@code istio_tcp_*} counters, and when their series go: a series (the labels a connection opened with, and
 * the variants its closes added with other {@code response_flags}) goes once no connection on it is open and the
 * last one closed at least the idle window ago, whoever its peers are (a workload this ztunnel never held, such
 * as a source of another network named only by its baggage, included), or at once when discovery no longer holds
 * its workload and no connection on it is open. A series in use never goes: an open connection keeps adding to
 * the series it resolved when it opened.
 *
 * <p>Idle series are looked for as the registry is read (this is its collector), so a scrape never shows one
 * past its window. Each series' use is changed only inside {@link ConcurrentHashMap#compute} of its key, which
 * is also where it is removed: a connection opening on a series being removed finds either the series still
 * there and keeps it, or none and starts it anew, never a series removed under it.
 */
final class TcpSeries implements MultiCollector {

    final Counter opened;
    final Counter closed;
    final Counter failed;
    final Counter sent;
    final Counter received;
    private final int flagsLabel;
    private final long idleNanos;
    private final LongSupplier clock;
    /** Each series by the labels it opened with: its connections open now, and since when it is idle. */
    private final ConcurrentHashMap<List<String>, Use> uses = new ConcurrentHashMap<>();

    /** Written only inside {@code uses.compute} of its key, which orders every access. */
    private static final class Use {
        int open;
        long idleSince;
        /** The {@code response_flags} its closes were counted with: the variants to remove with it. */
        final Set<String> closeFlags = new HashSet<>();
    }

    TcpSeries(String[] labelNames, int flagsLabel, Duration idleWindow, LongSupplier clock) {
        if (idleWindow.isNegative() || idleWindow.isZero()) {
            throw new IllegalArgumentException("series idle window: " + idleWindow + " (expected: positive)");
        }
        this.flagsLabel = flagsLabel;
        this.idleNanos = idleWindow.toNanos();
        this.clock = clock;
        opened = Counter.builder().name("istio_tcp_connections_opened_total")
                .help("TCP connections opened").labelNames(labelNames).build();
        closed = Counter.builder().name("istio_tcp_connections_closed_total")
                .help("TCP connections closed").labelNames(labelNames).build();
        // added to per relayed read: without exemplars an increment is one LongAdder add, nothing allocated
        sent = Counter.builder().name("istio_tcp_sent_bytes_total")
                .help("Bytes sent by the destination to the source").labelNames(labelNames).withoutExemplars()
                .build();
        received = Counter.builder().name("istio_tcp_received_bytes_total")
                .help("Bytes sent by the source to the destination").labelNames(labelNames).withoutExemplars()
                .build();
        failed = Counter.builder().name("istio_tcp_connections_failed_total")
                .help("TCP connections that ended in an error (policy denial, failed connect, broken tunnel)")
                .labelNames(labelNames).build();
    }

    /** A connection opens on {@code labels}: its series is in use (and counted) before the caller resolves it. */
    void open(String[] labels) {
        uses.compute(Arrays.asList(labels), (k, u) -> {
            Use use = u == null ? new Use() : u;
            use.open++;
            return use;
        });
        opened.labelValues(labels).inc();
    }

    /** The connection opened on {@code labels} closes with {@code flags}; its series is idle from now if it was the last. */
    void close(String[] labels, String flags, boolean error) {
        String[] withFlags = withFlags(labels, flags);
        closed.labelValues(withFlags).inc();
        if (error) {
            failed.labelValues(withFlags).inc();
        }
        long now = clock.getAsLong();
        uses.computeIfPresent(Arrays.asList(labels), (k, u) -> {
            u.open--;
            u.idleSince = now;
            u.closeFlags.add(flags);
            return u;
        });
    }

    /** Removes every series idle for the window. */
    void expireIdle() {
        long now = clock.getAsLong();
        for (List<String> key : uses.keySet()) {
            uses.computeIfPresent(key, (k, u) -> u.open == 0 && now - u.idleSince >= idleNanos ? removed(k, u) : u);
        }
    }

    /** Removes the series {@code gone} names that no open connection uses (those in use go once idle). */
    void expireUnused(Predicate<List<String>> gone) {
        for (List<String> key : uses.keySet()) {
            if (gone.test(key)) {
                uses.computeIfPresent(key, (k, u) -> u.open == 0 ? removed(k, u) : u);
            }
        }
    }

    /** Removes {@code key}'s series from every counter; null, for {@code compute} to drop its use. */
    private Use removed(List<String> key, Use use) {
        String[] labels = key.toArray(String[]::new);
        opened.remove(labels);
        sent.remove(labels);
        received.remove(labels);
        if (flagsLabel >= 0) {
            use.closeFlags.add(labels[flagsLabel]);
        }
        for (String flags : use.closeFlags) {
            String[] withFlags = withFlags(labels, flags);
            closed.remove(withFlags);
            failed.remove(withFlags);
        }
        return null;
    }

    /** {@code labels} with other response flags (a copy; the series' arrays are never modified). */
    String[] withFlags(String[] labels, String flags) {
        if (flagsLabel < 0 || flags.equals(labels[flagsLabel])) { // without the label, closes share the series
            return labels;
        }
        String[] copy = labels.clone();
        copy[flagsLabel] = flags;
        return copy;
    }

    @Override
    public MetricSnapshots collect() {
        expireIdle();
        return MetricSnapshots.of(opened.collect(), closed.collect(), failed.collect(), sent.collect(),
                received.collect());
    }

    @Override
    public List<String> getPrometheusNames() {
        return counters().stream().map(Counter::getPrometheusName).toList();
    }

    @Override
    public List<MetricFamilyDescriptor> getMetricFamilyDescriptors() {
        return counters().stream().map(Counter::getMetricFamilyDescriptor).toList();
    }

    private List<Counter> counters() {
        return List.of(opened, closed, failed, sent, received);
    }
}
