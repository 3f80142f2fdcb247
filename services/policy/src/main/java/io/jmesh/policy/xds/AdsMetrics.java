package io.jmesh.policy.xds;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Discovery metrics, and hooks for whoever needs to know when a node subscribed or acknowledged (tests,
 * benchmarks).
 */
public final class AdsMetrics {

    /** Hears every ACK and NACK. Called on the stream's event loop: must not block. */
    @FunctionalInterface
    public interface AckListener {
        void acked(String node, String typeUrl, String nonce, boolean accepted);
    }

    /**
     * Hears every new subscription to a type on a stream, with the {@code initial_resource_versions} the client
     * announced (what it holds from an earlier stream; empty on a first connect). Called on the stream's event
     * loop: must not block.
     */
    @FunctionalInterface
    public interface SubscribeListener {
        void subscribed(String node, String typeUrl, Map<String, String> initialResourceVersions);
    }

    private final Counter responses;
    private final Counter resources;
    private final Counter acks;
    private final Counter nacks;
    private final Counter refused;
    private final Counter invalidNames;
    private final Counter namesOverLimit;
    private final Counter unknownTypes;
    private final Counter malformed;
    private final Counter initialSyncTimeouts;
    final Gauge streams;
    final Gauge syncing;
    final Gauge waiting;
    final Gauge reviewing;
    private final List<AckListener> listeners = new CopyOnWriteArrayList<>();
    private final List<SubscribeListener> subscribeListeners = new CopyOnWriteArrayList<>();

    public AdsMetrics(PrometheusRegistry registry) {
        responses = Counter.builder().name("policy_xds_responses_total").help("Delta responses sent")
                .labelNames("type_url").register(registry);
        resources = Counter.builder().name("policy_xds_resources_total")
                .help("Resources sent (op=update) or removed (op=remove)").labelNames("type_url", "op")
                .register(registry);
        acks = Counter.builder().name("policy_xds_acks_total").help("Responses acknowledged")
                .labelNames("type_url").register(registry);
        nacks = Counter.builder().name("policy_xds_nacks_total")
                .help("Responses a ztunnel rejected (some resources not applied)").labelNames("type_url")
                .register(registry);
        refused = Counter.builder().name("policy_xds_streams_refused_total")
                .help("Discovery streams refused").labelNames("reason").register(registry);
        invalidNames = Counter.builder().name("policy_xds_invalid_resource_names_total")
                .help("Subscribed names that cannot name a resource (not a canonical name, network/IP or"
                        + " namespace/hostname), ignored").labelNames("type_url").register(registry);
        namesOverLimit = Counter.builder().name("policy_xds_names_over_limit_total")
                .help("Names a stream subscribed beyond the most one stream may hold (" + AdsStream.MAX_NAMES
                        + "), ignored").labelNames("type_url").register(registry);
        // no type_url label: a client could invent any number of them
        unknownTypes = Counter.builder().name("policy_xds_unknown_type_requests_total")
                .help("Requests for a type_url discovery does not serve (not Address or Authorization), answered with"
                        + " no resources")
                .register(registry);
        malformed = Counter.builder().name("policy_xds_malformed_requests_total")
                .help("Discovery streams ended INVALID_ARGUMENT: a message was not a DeltaDiscoveryRequest")
                .register(registry);
        initialSyncTimeouts = Counter.builder().name("policy_xds_initial_sync_timeouts_total")
                .help("Discovery streams not through their initial sync after xds.admission.maxInitialSync: they gave"
                        + " their place up and went on").register(registry);
        streams = Gauge.builder().name("policy_xds_streams").help("Open discovery streams").register(registry);
        syncing = Gauge.builder().name("policy_xds_streams_syncing")
                .help("Discovery streams reviewed and not through their initial sync yet (first full configuration"
                        + " sent and acknowledged); at most xds.admission.maxSyncingStreams")
                .register(registry);
        waiting = Gauge.builder().name("policy_xds_streams_waiting")
                .help("New discovery streams waiting for their turn (xds.admission.maxNewStreamsPerSecond)")
                .register(registry);
        reviewing = Gauge.builder().name("policy_xds_streams_reviewing")
                .help("New discovery streams whose token is being reviewed (they hold no initial-sync place)")
                .register(registry);
        // zero series from the start: rate() and alerts work before the first NACK or refusal
        for (String type : new String[] {io.jmesh.policy.state.TypeUrls.ADDRESS,
                io.jmesh.policy.state.TypeUrls.AUTHORIZATION}) {
            responses.labelValues(type);
            acks.labelValues(type);
            nacks.labelValues(type);
            invalidNames.labelValues(type);
            namesOverLimit.labelValues(type);
        }
        for (String reason : new String[] {"not_a_node", "node_mismatch", "not_ready", "rate_limited",
                "syncing_limit", "superseded",
                "node_streams_limit"}) {
            refused.labelValues(reason);
        }
    }

    public void onAck(AckListener listener) {
        listeners.add(listener);
    }

    public void onSubscribe(SubscribeListener listener) {
        subscribeListeners.add(listener);
    }

    void subscribed(String node, String type, Map<String, String> initialResourceVersions) {
        for (SubscribeListener l : subscribeListeners) {
            l.subscribed(node, type, initialResourceVersions);
        }
    }

    void pushed(String type, int updated, int removed) {
        responses.labelValues(type).inc();
        resources.labelValues(type, "update").inc(updated);
        resources.labelValues(type, "remove").inc(removed);
    }

    void ack(String type) {
        acks.labelValues(type).inc();
    }

    void nack(String type) {
        nacks.labelValues(type).inc();
    }

    void invalidName(String type) {
        invalidNames.labelValues(type).inc();
    }

    void nameOverLimit(String type) {
        namesOverLimit.labelValues(type).inc();
    }

    void unknownType() {
        unknownTypes.inc();
    }

    void malformed() {
        malformed.inc();
    }

    void initialSyncTimedOut() {
        initialSyncTimeouts.inc();
    }

    void refused(String reason) {
        refused.labelValues(reason).inc();
    }

    void acked(String node, String type, String nonce, boolean accepted) {
        for (AckListener l : listeners) {
            l.acked(node, type, nonce, accepted);
        }
    }
}
