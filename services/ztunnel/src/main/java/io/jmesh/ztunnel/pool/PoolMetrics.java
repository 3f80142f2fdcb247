package io.jmesh.ztunnel.pool;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The pool metrics, registered once per process and shared by every pool: the node's, and in in-pod mode one per
 * pod (a pod's tunnels must leave from its own network namespace).
 */
public final class PoolMetrics {

    final Counter dials;
    private final Set<HbonePool> pools = ConcurrentHashMap.newKeySet();

    public PoolMetrics(PrometheusRegistry registry) {
        this.dials = Counter.builder().name("ztunnel_pool_dials_total")
                .help("HBONE connections dialled by the outbound pool, by outcome").labelNames("outcome")
                .register(registry);
        GaugeWithCallback.builder().name("ztunnel_pool_connections").help("Pooled outbound HBONE connections")
                .callback(cb -> cb.call(pools.stream().mapToInt(HbonePool::size).sum())).register(registry);
    }

    void add(HbonePool pool) {
        pools.add(pool);
    }

    void remove(HbonePool pool) {
        pools.remove(pool);
    }
}
