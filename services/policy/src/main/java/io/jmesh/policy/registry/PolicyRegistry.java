package io.jmesh.policy.registry;

import io.jmesh.core.configlog.ConfigLogReader;
import io.jmesh.core.configlog.ConfigSnapshot;
import io.jmesh.policy.state.MeshSettings;
import io.jmesh.policy.state.MeshState;
import io.jmesh.policy.state.MeshStateBuilder;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This replica's registry: materializes the config log (replay, then follow) and derives the discovery state
 * from each snapshot. Two replicas reading one log reach the same snapshots and so serve identical state; a
 * restart is a replay.
 *
 * <p>A record that cannot be used is skipped, logged and counted twice over: by the log reader when the envelope
 * is bad ({@code mesh_config_log_rejected_total{reason}}), here when its content cannot be translated
 * ({@code policy_config_log_skipped_total{reason}}). Neither affects other records.
 *
 * <p>Builds run on the log reader's thread; listeners are called there and must hand off to their event loop.
 */
public final class PolicyRegistry implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(PolicyRegistry.class);

    private final ConfigLogReader reader;
    private final MeshStateBuilder builder;
    private final Counter skipped;
    private final Histogram buildSeconds;
    private final List<Consumer<MeshState>> listeners = new CopyOnWriteArrayList<>();
    private final CompletableFuture<MeshState> ready = new CompletableFuture<>();
    private volatile MeshState state = MeshState.EMPTY;
    private volatile ConfigSnapshot lastBuilt;

    private PolicyRegistry(ConfigLogReader reader, MeshSettings settings, PrometheusRegistry metrics) {
        this.reader = reader;
        this.builder = new MeshStateBuilder(settings);
        this.skipped = Counter.builder().name("policy_config_log_skipped_total")
                .help("Config log records whose content could not be turned into discovery resources")
                .labelNames("reason").register(metrics);
        this.buildSeconds = Histogram.builder().name("policy_state_build_seconds")
                .help("Time to compute the discovery state from a config snapshot").register(metrics);
    }

    /** Starts replaying {@code topic} from {@code bootstrapServers}. */
    public static PolicyRegistry start(String bootstrapServers, String topic, String clientId, MeshSettings settings,
            PrometheusRegistry metrics) {
        ConfigLogReader reader = ConfigLogReader.start(bootstrapServers, topic, clientId, metrics);
        PolicyRegistry r = new PolicyRegistry(reader, settings, metrics);
        reader.onChange((snapshot, changed) -> {
            if (reader.caughtUp().isDone()) { // during replay, build once at the end
                r.rebuild(snapshot);
            }
        });
        reader.caughtUp().whenComplete((snapshot, err) -> {
            if (err != null) {
                r.ready.completeExceptionally(err);
            } else {
                r.rebuild(reader.snapshot());
                r.ready.complete(r.state);
            }
        });
        return r;
    }

    private synchronized void rebuild(ConfigSnapshot snapshot) {
        if (snapshot == lastBuilt) {
            return;
        }
        long start = System.nanoTime();
        MeshState next = builder.build(snapshot, s -> {
            skipped.labelValues("untranslatable").inc();
            log.atWarn().addKeyValue("object", s.key())
                    .log("config record skipped or enforced stricter: {}", s.reason());
        });
        next.prepareIpIndex(); // once on-demand lookups want it: so no stream waits for a worker to build it
        buildSeconds.observe((System.nanoTime() - start) / 1e9);
        lastBuilt = snapshot;
        state = next;
        for (Consumer<MeshState> l : listeners) {
            try {
                l.accept(next);
            } catch (RuntimeException e) {
                log.atWarn().setCause(e).log("state listener failed");
            }
        }
    }

    /** The current discovery state (lock-free). */
    public MeshState state() {
        return state;
    }

    /** The materialized config snapshot (lock-free). */
    public ConfigSnapshot snapshot() {
        return reader.snapshot();
    }

    /** Completes once the log has been replayed up to where it stood at start, with the state then. */
    public CompletableFuture<MeshState> ready() {
        return ready;
    }

    /** Called with every new state (on the log reader's thread). */
    public void onState(Consumer<MeshState> listener) {
        listeners.add(listener);
    }

    @Override
    public void close() {
        reader.close();
    }
}
