package io.jmesh.policy.kubernetes;

import io.jmesh.core.kubernetes.KubernetesApi;
import io.jmesh.core.lifecycle.BackgroundThread;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.json.JsonObject;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Which policy replica writes the cluster into the config log: the holder of a {@code coordination.k8s.io/v1}
 * {@code Lease}, taken and renewed as client-go's leader election does (istiod elects its writers so). Every
 * replica reads the log and serves ztunnels; with several writing, one that listed a moment earlier would delete
 * what another had just written, and a lagging one would write back versions the cluster had moved past.
 *
 * <p>Every {@code retryPeriod} a candidate reads the lease: one whose record has not changed for
 * {@code leaseDuration} (measured on this replica's clock since it last saw the record change, so clocks need not
 * agree), or that names no holder, is taken by an update conditional on the {@code resourceVersion} read (two
 * candidates: one wins, the other gets {@code 409}). The holder renews it every {@code retryPeriod} and stops
 * leading when no renewal succeeded for {@code renewDeadline} (below {@code leaseDuration}, so it stops before a
 * candidate may take over). On close the holder releases the lease, so a rolling update hands over at once.
 *
 * <p>The holder marks the lease once it has listed every kind ({@value #SYNCED} annotation): a replica that does
 * not lead is ready when the leader's lists are in the log.
 */
public final class LeaderElection implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(LeaderElection.class);
    /** Annotation the leader sets on its lease once its first lists of this term are written. */
    static final String SYNCED = "policy.jmesh.io/synced";
    private static final DateTimeFormatter MICRO_TIME =
            DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX").withZone(ZoneOffset.UTC);

    /** What a replica learns about its part. Called on the election's thread, in order. */
    public interface Listener {
        /** This replica holds the lease: start writing. */
        void leading();

        /** This replica lost or released the lease: stop writing. */
        void following();

        /** Another replica leads and its lists are written. */
        void leaderSynced();
    }

    /** Where the lease is and how long a term lasts. */
    public record Settings(String namespace, String name, String identity, Duration leaseDuration,
            Duration renewDeadline, Duration retryPeriod) {}

    private final KubernetesApi api;
    private final Settings settings;
    private final String path;
    private final Clock clock;
    private final LongSupplier nanos;
    private final ScheduledExecutorService executor;
    private final Gauge leader;
    private final Counter transitions;
    private Listener listener;

    // touched only on the executor thread
    private JsonObject observed; // the lease's spec and annotations as last read
    private long observedAt; // when this replica saw them change (nanos)
    private boolean leading;
    private long renewedAt;
    private boolean leaderSyncedSeen;
    private String lastProblem;
    private volatile boolean synced;
    private volatile boolean closed;

    public LeaderElection(KubernetesApi api, Settings settings, PrometheusRegistry metrics) {
        this(api, settings, metrics, Clock.systemUTC(), System::nanoTime);
    }

    LeaderElection(KubernetesApi api, Settings settings, PrometheusRegistry metrics, Clock clock, LongSupplier nanos) {
        this.api = api;
        this.settings = settings;
        this.path = "/apis/coordination.k8s.io/v1/namespaces/" + settings.namespace() + "/leases";
        this.clock = clock;
        this.nanos = nanos;
        this.executor = BackgroundThread.named("policy-leader-election");
        this.leader = Gauge.builder().name("policy_kubernetes_leader")
                .help("1 while this replica holds the lease that lets it write the cluster into the config log")
                .register(metrics);
        this.transitions = Counter.builder().name("policy_kubernetes_leadership_changes_total")
                .help("Times this replica started or stopped leading, by what it became").labelNames("became")
                .register(metrics);
        leader.set(0);
    }

    public void start(Listener listener) {
        this.listener = listener;
        executor.execute(this::round);
    }

    /** The leader's lists of this term are written: say so on the lease at the next renewal. */
    public void markSynced() {
        synced = true;
    }

    private void round() {
        if (closed) {
            return;
        }
        try {
            tryAcquireOrRenew();
            lastProblem = null;
        } catch (RuntimeException e) {
            // every retryPeriod while it lasts (RBAC missing, API server down): said once, then at debug
            boolean repeated = String.valueOf(e.getMessage()).equals(lastProblem);
            lastProblem = String.valueOf(e.getMessage());
            (repeated ? log.atDebug() : log.atWarn()).addKeyValue("lease", settings.namespace() + "/" + settings.name())
                    .log("lease not read or written: {}", e.getMessage());
        }
        if (leading && nanos.getAsLong() - renewedAt > settings.renewDeadline().toNanos()) {
            log.atWarn().addKeyValue("lease", settings.namespace() + "/" + settings.name())
                    .log("not renewed for {}; no longer leading", settings.renewDeadline());
            become(false);
        }
        if (!closed) {
            executor.schedule(this::round, settings.retryPeriod().toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    private void tryAcquireOrRenew() {
        KubernetesApi.Response r = api.get(path + "/" + settings.name());
        long now = nanos.getAsLong();
        if (r.status() == 404) {
            JsonObject lease = new JsonObject().put("apiVersion", "coordination.k8s.io/v1").put("kind", "Lease")
                    .put("metadata", new JsonObject().put("name", settings.name())
                            .put("namespace", settings.namespace()))
                    .put("spec", taken(0));
            KubernetesApi.Response created = api.post(path, lease);
            if (created.ok()) {
                renewed(created.body(), now);
            } else if (created.status() != 409) { // 409: another replica created it first
                throw new IllegalStateException("creating it failed: " + created.reason());
            }
            return;
        }
        if (!r.ok()) {
            throw new IllegalStateException("reading it failed: " + r.reason());
        }
        JsonObject lease = r.body();
        JsonObject spec = lease.getJsonObject("spec", new JsonObject());
        JsonObject seen = seen(lease);
        if (!seen.equals(observed)) {
            observed = seen;
            observedAt = now;
        }
        String holder = spec.getString("holderIdentity", "");
        boolean mine = settings.identity().equals(holder);
        if (!mine && !holder.isEmpty()) {
            if (leading) {
                become(false); // taken over while this replica could not renew
            }
            long term = Duration.ofSeconds(spec.getInteger("leaseDurationSeconds", 15)).toNanos();
            if (now - observedAt < term) {
                if (!leaderSyncedSeen && "true".equals(annotation(lease, SYNCED))) {
                    leaderSyncedSeen = true;
                    listener.leaderSynced();
                }
                return; // held by a live holder
            }
        }
        JsonObject next = mine ? spec.copy().put("renewTime", microTime())
                .put("leaseDurationSeconds", seconds(settings.leaseDuration()))
                : taken(spec.getInteger("leaseTransitions", 0) + 1);
        KubernetesApi.Response put = update(lease, next, mine && leading && synced);
        if (put.ok()) {
            renewed(put.body(), now);
        } else if (put.status() != 409) { // 409: changed since read (another replica took or renewed it)
            throw new IllegalStateException("updating it failed: " + put.reason());
        }
    }

    /**
     * Writes {@code spec} over {@code lease} as read (its {@code resourceVersion} makes the update conditional),
     * with the {@value #SYNCED} mark set or cleared.
     */
    private KubernetesApi.Response update(JsonObject lease, JsonObject spec, boolean markSynced) {
        JsonObject meta = lease.getJsonObject("metadata").copy();
        JsonObject annotations = meta.getJsonObject("annotations", new JsonObject()).copy();
        if (markSynced) {
            annotations.put(SYNCED, "true");
        } else {
            annotations.remove(SYNCED);
        }
        return api.put(path + "/" + settings.name(),
                lease.copy().put("metadata", meta.put("annotations", annotations)).put("spec", spec));
    }

    /** The lease's record as this replica compares it between reads. */
    private static JsonObject seen(JsonObject lease) {
        return new JsonObject().put("spec", lease.getJsonObject("spec", new JsonObject()))
                .put("synced", annotation(lease, SYNCED));
    }

    private static String annotation(JsonObject lease, String key) {
        JsonObject a = lease.getJsonObject("metadata", new JsonObject()).getJsonObject("annotations");
        return a == null ? null : a.getString(key);
    }

    /** A spec naming this replica the holder from now, the {@code transitions}th change of holder. */
    private JsonObject taken(int transitions) {
        String now = microTime();
        return new JsonObject().put("holderIdentity", settings.identity())
                .put("leaseDurationSeconds", seconds(settings.leaseDuration())).put("acquireTime", now)
                .put("renewTime", now).put("leaseTransitions", transitions);
    }

    private void renewed(JsonObject lease, long now) {
        observed = seen(lease);
        observedAt = now;
        renewedAt = now;
        if (!leading) {
            synced = false;
            become(true);
        }
    }

    private void become(boolean leads) {
        leading = leads;
        leader.set(leads ? 1 : 0);
        transitions.labelValues(leads ? "leader" : "follower").inc();
        log.atInfo().addKeyValue("lease", settings.namespace() + "/" + settings.name())
                .addKeyValue("identity", settings.identity())
                .log(leads ? "leading: writing the cluster into the config log" : "following: another replica writes");
        if (leads) {
            listener.leading();
        } else {
            listener.following();
        }
    }

    private String microTime() {
        return MICRO_TIME.format(Instant.now(clock));
    }

    private static int seconds(Duration d) {
        return (int) Math.max(1, d.toSeconds());
    }

    /** Stops taking part; the holder releases the lease (an empty holder, as client-go's release) first. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        executor.execute(() -> {
            if (!leading) {
                return;
            }
            try {
                KubernetesApi.Response r = api.get(path + "/" + settings.name());
                JsonObject spec = r.ok() ? r.body().getJsonObject("spec", new JsonObject()) : null;
                if (spec != null && settings.identity().equals(spec.getString("holderIdentity"))) {
                    update(r.body(), spec.copy().put("holderIdentity", "").put("leaseDurationSeconds", 1)
                            .put("renewTime", microTime()), false);
                }
            } catch (RuntimeException e) {
                log.atWarn().log("releasing the lease failed (another replica takes it once it expires): {}",
                        e.getMessage());
            }
            become(false);
        });
        BackgroundThread.stop(executor, Duration.ofSeconds(5));
    }
}
