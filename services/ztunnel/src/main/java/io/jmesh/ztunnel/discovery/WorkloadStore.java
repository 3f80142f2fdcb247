package io.jmesh.ztunnel.discovery;

import io.jmesh.core.xds.XdsTypes;
import io.jmesh.proto.istio.workload.Address;
import io.netty.channel.Channel;
import io.vertx.core.Future;
import java.net.InetAddress;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The current {@link WorkloadIndex}, swapped atomically per discovery push. The data path reads
 * {@link #current()} (a volatile read, no lock); writers (the static file, the ADS client) are serialized by the
 * store so two pushes never lose each other's changes.
 *
 * <p>Listeners get (previous, next) after each swap, to prefetch certificates, open listeners for new local
 * workloads, and drop pooled connections whose workload changed.
 *
 * <p>With on-demand discovery ({@code discovery.onDemand}, Istio's {@code XDS_ON_DEMAND}) the store also asks for
 * what a lookup missed ({@link #demand}): the data path checks {@link #onDemand()} (one field read) and only then
 * waits for the answer, after which {@link #current()} holds whatever policy had.
 */
public final class WorkloadStore {

    private static final Logger log = LoggerFactory.getLogger(WorkloadStore.class);

    private final String network;
    private final AtomicReference<WorkloadIndex> current;
    private final List<BiConsumer<WorkloadIndex, WorkloadIndex>> listeners = new CopyOnWriteArrayList<>();
    private volatile Demand demand;

    /** Asks discovery for the resources an alias names ({@code network/IP}, {@code namespace/hostname}). */
    @FunctionalInterface
    public interface Demand {
        /**
         * Completes once discovery's answer (whether or not anything matched) has been applied to the store; fails
         * when no answer came in time. Callable from any thread; completes on discovery's.
         */
        Future<Void> demand(String alias);
    }

    /** A store for a node on the default network. */
    public WorkloadStore() {
        this("");
    }

    /** @param network the node's network: the one whose addresses the indexes answer for */
    public WorkloadStore(String network) {
        this.network = network;
        this.current = new AtomicReference<>(WorkloadIndex.of(Map.of(), network));
    }

    public WorkloadIndex current() {
        return current.get();
    }

    /** Turns on-demand lookups on: misses are asked of {@code demand} (set once, before traffic flows). */
    public void demandFrom(Demand demand) {
        this.demand = demand;
    }

    /** Whether lookups that miss may ask discovery ({@link #demand}); off: the store holds all there is. */
    public boolean onDemand() {
        return demand != null;
    }

    /** The network this store's indexes answer address lookups for (the node's). */
    public String network() {
        return network;
    }

    /**
     * Asks discovery for {@code alias} and completes once its answer is applied (see {@link Demand}); at once when
     * on-demand lookups are off.
     */
    public Future<Void> demand(String alias) {
        Demand d = demand;
        return d == null ? Future.succeededFuture() : d.demand(alias);
    }

    /** {@link #demand} of the address {@code ip} on this node's network ({@code network/IP}). */
    public Future<Void> demandAddress(InetAddress ip) {
        return demand(XdsTypes.ipAlias(network, ip));
    }

    /**
     * Goes on with a connection after an on-demand lookup: at once (on this thread) when {@code asked} is complete
     * already (policy answered before), else on {@code ch}'s event loop once it completes, if {@code ch} is still
     * open. Whether policy found anything or not, {@code next} looks again in {@link #current()}.
     */
    public static void afterAnswer(Future<?> asked, Channel ch, Runnable next) {
        if (asked.isComplete()) {
            next.run();
            return;
        }
        asked.onComplete(ar -> ch.eventLoop().execute(() -> {
            if (ch.isActive()) {
                next.run();
            }
        }));
    }

    public void onChange(BiConsumer<WorkloadIndex, WorkloadIndex> listener) {
        listeners.add(listener);
    }

    /** Applies one incremental push. */
    public void apply(Map<String, Address> upserts, Collection<String> removed) {
        WorkloadIndex prev;
        WorkloadIndex next;
        synchronized (this) { // writers only; a push every few seconds at most, never on the data path
            prev = current.get();
            next = prev.with(upserts, removed);
            current.set(next);
        }
        notifyListeners(prev, next);
    }

    /** Replaces everything (state of the world). */
    public void replaceAll(Map<String, Address> all) {
        WorkloadIndex prev;
        WorkloadIndex next = WorkloadIndex.of(all, network);
        synchronized (this) {
            prev = current.get();
            current.set(next);
        }
        notifyListeners(prev, next);
    }

    private void notifyListeners(WorkloadIndex prev, WorkloadIndex next) {
        for (var l : listeners) {
            try {
                l.accept(prev, next);
            } catch (RuntimeException e) {
                log.atWarn().setCause(e).log("workload store listener failed");
            }
        }
    }
}
