package io.jmesh.policy.kubernetes;

import io.jmesh.core.config.Durations;
import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.core.kubernetes.KubernetesApi;
import io.jmesh.core.kubernetes.KubernetesException;
import io.jmesh.core.lifecycle.BackgroundThread;
import io.jmesh.policy.state.MeshState;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the VIPs policy allocates to ServiceEntry hosts ({@code state.VipAllocation}) where istiod keeps its own: in
 * the entry's {@code status.addresses} ({@code {host, value}} per address). Once there, an allocation is the entry's
 * for good: every replica reads it back as an address the entry holds, so deleting another entry (whose slot a
 * younger one had to step over) moves nothing, and a client's cached DNS answer stays right.
 *
 * <p>Only the replica that writes the cluster into the log records (the Lease holder), on a thread of its own: each
 * new state is looked at once the previous one's writes are done (states arriving meanwhile collapse into the
 * latest). A write reads the entry, adds the missing addresses to its status (what istiod or anyone recorded stays,
 * but for hosts the entry no longer names) and replaces the status conditional on the {@code resourceVersion} read:
 * an entry changed meanwhile is left to the next state. Refusals ({@code 403} without the {@code serviceentries/status} rights, anything else) are counted,
 * logged, and tried again a minute later; the VIP keeps serving, computed, in the meantime.
 */
public final class VipStatusWriter implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(VipStatusWriter.class);
    private static final String KIND = "ServiceEntry";
    private static final Duration RETRY = Duration.ofMinutes(1);

    private final KubernetesApi api;
    private final String sourceName;
    private final Supplier<String> collection;
    private final BooleanSupplier writing;
    private final ScheduledExecutorService executor;
    private final Counter writes;
    private final AtomicReference<MeshState> latest = new AtomicReference<>();
    private final AtomicBoolean scheduled = new AtomicBoolean();
    private final Duration retryAfter;
    // touched only on the executor thread: what was written (or found recorded) per entry, and failures' next try
    private final Map<ConfigKey, MeshState.AllocatedVips> recorded = new HashMap<>();
    private final Map<ConfigKey, Long> failedUntil = new HashMap<>();
    private final Set<ConfigKey> reported = new HashSet<>(); // refusals logged at warn, once per entry
    private boolean retryScheduled;
    private volatile boolean closed;

    public VipStatusWriter(KubernetesApi api, KubernetesSource source, PrometheusRegistry metrics) {
        this(api, source.name(), () -> source.servedPath(KIND), source::writing, metrics, RETRY);
    }

    /**
     * @param sourceName the config-log writer name of the cluster's objects (entries of other sources are skipped)
     * @param collection where the cluster serves ServiceEntries, for all namespaces
     * @param writing whether this replica writes now
     */
    VipStatusWriter(KubernetesApi api, String sourceName, Supplier<String> collection, BooleanSupplier writing,
            PrometheusRegistry metrics, Duration retryAfter) {
        this.api = api;
        this.sourceName = sourceName;
        this.collection = collection;
        this.writing = writing;
        this.retryAfter = retryAfter;
        this.executor = BackgroundThread.named("policy-vip-status");
        this.writes = Counter.builder().name("policy_vip_status_writes_total")
                .help("Writes of allocated ServiceEntry VIPs into the entries' status, by outcome (ok, conflict: the "
                        + "entry changed meanwhile, gone, refused)")
                .labelNames("outcome").register(metrics);
    }

    /** A new state: its allocations are recorded soon after, if this replica writes. Never blocks. */
    public void accept(MeshState state) {
        latest.set(state);
        if (!closed && scheduled.compareAndSet(false, true)) {
            executor.execute(this::drain);
        }
    }

    private void drain() {
        scheduled.set(false);
        MeshState state = latest.get();
        if (closed || state == null || !writing.getAsBoolean()) {
            return; // a replica that becomes the writer lists everything, and the next state brings us back
        }
        Set<ConfigKey> wanted = new HashSet<>();
        long now = System.nanoTime();
        for (MeshState.AllocatedVips a : state.allocatedVips()) {
            if (!sourceName.equals(a.source())) {
                continue; // an entry from a manifest file: nowhere to record
            }
            wanted.add(a.entry());
            if (a.equals(recorded.get(a.entry()))) {
                continue; // written; its status comes back through the watch
            }
            Long until = failedUntil.get(a.entry());
            if (until != null && until - now > 0) {
                continue;
            }
            if (!writing.getAsBoolean() || closed) {
                return;
            }
            failedUntil.remove(a.entry());
            record(a); // sets failedUntil again if refused
        }
        recorded.keySet().retainAll(wanted);
        failedUntil.keySet().retainAll(wanted);
        reported.retainAll(wanted);
        // a refused entry is tried again on its own, the state unchanged or not
        if (!retryScheduled && !closed && !failedUntil.isEmpty()) {
            long wait = failedUntil.values().stream().mapToLong(until -> until - System.nanoTime()).min().orElse(0);
            retryScheduled = true;
            executor.schedule(() -> {
                retryScheduled = false;
                accept(latest.get());
            }, Math.max(0, wait), TimeUnit.NANOSECONDS);
        }
    }

    private void record(MeshState.AllocatedVips a) {
        String path = objectPath(collection.get(), a.entry());
        try {
            KubernetesApi.Response current = api.get(path);
            if (current.status() == 404) {
                writes.labelValues("gone").inc();
                return; // deleted meanwhile: the next state drops it
            }
            if (!current.ok()) {
                throw new KubernetesException("reading " + path + " failed: " + current.reason());
            }
            JsonObject entry = current.body();
            JsonObject status = entry.getJsonObject("status", new JsonObject());
            Set<Object> hosts = new HashSet<>(entry.getJsonObject("spec", new JsonObject())
                    .getJsonArray("hosts", new JsonArray()).getList());
            // what the status holds stays, but for hosts the entry no longer names (Istio's allocator drops those)
            JsonArray addresses = new JsonArray();
            Set<String> present = new HashSet<>();
            for (Object o : status.getJsonArray("addresses", new JsonArray())) {
                JsonObject addr = (JsonObject) o;
                if (hosts.contains(addr.getString("host", ""))) {
                    addresses.add(addr);
                    present.add(addr.getString("host", "") + " " + addr.getString("value", ""));
                }
            }
            a.byHost().forEach((host, vips) -> vips.forEach(vip -> {
                if (present.add(host + " " + vip)) {
                    addresses.add(new JsonObject().put("value", vip).put("host", host));
                }
            }));
            entry.put("status", status.copy().put("addresses", addresses));
            KubernetesApi.Response written = api.put(path + "/status", entry);
            if (written.status() == 409) {
                writes.labelValues("conflict").inc(); // the entry changed: its new version brings a new state
                return;
            }
            if (written.status() == 404) {
                writes.labelValues("gone").inc();
                return;
            }
            if (!written.ok()) {
                if (written.status() == 403) {
                    throw new KubernetesException("writing " + path + "/status refused (policy's ClusterRole needs "
                            + "update on serviceentries/status; until then the VIPs are computed, and can move when "
                            + "an entry is deleted): " + written.reason());
                }
                throw new KubernetesException("writing " + path + "/status failed: " + written.reason());
            }
            recorded.put(a.entry(), a);
            reported.remove(a.entry());
            writes.labelValues("ok").inc();
            log.atInfo().addKeyValue("entry", a.entry()).addKeyValue("vips", a.byHost())
                    .addKeyValue("droppedHosts", a.staleHosts())
                    .log("recorded the allocated VIPs in the ServiceEntry's status");
        } catch (KubernetesException | IllegalStateException | ClassCastException e) {
            writes.labelValues("refused").inc();
            boolean first = reported.add(a.entry());
            failedUntil.put(a.entry(), System.nanoTime() + retryAfter.toNanos());
            // once per entry at warn (a refusal lasts: RBAC, an admission webhook), its retries at debug
            (first ? log.atWarn() : log.atDebug()).addKeyValue("entry", a.entry())
                    .log("allocated VIPs not recorded in the ServiceEntry's status (trying again every {}): {}",
                            Durations.format(retryAfter), e.getMessage());
        }
    }

    /** {@code /apis/<group>/<version>/namespaces/<ns>/<plural>/<name>} from the kind's all-namespaces collection. */
    static String objectPath(String collection, ConfigKey entry) {
        int slash = collection.lastIndexOf('/');
        return collection.substring(0, slash) + "/namespaces/" + entry.namespace() + collection.substring(slash) + "/"
                + entry.name();
    }

    @Override
    public void close() {
        closed = true;
        BackgroundThread.stop(executor, Duration.ofSeconds(5));
    }
}
