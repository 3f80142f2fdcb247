package io.jmesh.policy.kubernetes;

import io.jmesh.core.config.Durations;
import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.core.kubernetes.KubernetesApi;
import io.jmesh.core.kubernetes.KubernetesException;
import io.jmesh.core.lifecycle.BackgroundThread;
import io.jmesh.policy.resource.ManifestReader;
import io.jmesh.policy.source.ConfigSink;
import io.jmesh.policy.source.ConfigSource;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.policy.v1.ApplyResult;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The cluster as a configuration source, as istiod's informers: each {@link WatchedKind} is listed (in pages), what
 * the list holds is applied and what this source wrote earlier that it no longer holds is deleted, then the kind is
 * watched from the list's {@code resourceVersion}. Every object goes through the {@link ConfigSink} as a manifest
 * from any other source does (the same validation; an invalid object is logged with its field paths, counted, and
 * its last good version stays). Pods are written ({@code Pod} records) once scheduled, which places their identity on
 * their node for the ca, become workloads once they have an address, and are deleted when they finish.
 *
 * <p>A watch that ends (the API server closes them every few minutes) resumes from the last {@code resourceVersion}
 * seen; one the server no longer holds ({@code 410 Gone}), a failed write and a failed list start the kind over with
 * a new list, after a backoff (1 s doubling to 30 s). A custom resource whose CRD is not installed counts as synced
 * (nothing to register) and is looked for again every minute.
 *
 * <p>Everything runs on one thread of its own: the lists, the writes (which may wait on Kafka), each kind's state.
 * A watch reads its next event only when the previous one is written, so the API server is slowed down rather
 * than events queued.
 *
 * <p>With a {@link LeaderElection}, only the replica holding the lease lists, watches and writes; one that loses it
 * stops at once (its watches dropped, the list in progress abandoned at the next page) and the next holder starts
 * over with lists. A replica that does not lead is synced when the leader says its lists are written.
 */
public final class KubernetesSource implements ConfigSource {

    private static final Logger log = LoggerFactory.getLogger(KubernetesSource.class);
    private static final Duration WRITE_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration MIN_BACKOFF = Duration.ofSeconds(1);
    private static final Duration MAX_BACKOFF = Duration.ofSeconds(30);
    private static final Duration CRD_RECHECK = Duration.ofMinutes(1);
    /** A watch that ends sooner than this after it started counts as a failed one (backoff grows). */
    private static final Duration SHORT_WATCH = Duration.ofSeconds(5);
    private static final int PAGE = 500;

    private final KubernetesApi api;
    private final LeaderElection election;
    private final String name;
    private final Map<String, KindState> kinds = new HashMap<>();
    private final ScheduledExecutorService executor;
    private final CompletableFuture<Void> synced = new CompletableFuture<>();
    private final Counter events;
    private final Counter lists;
    private final Gauge watching;
    private ConfigSink sink;
    private volatile boolean closed;
    // this replica writes (it leads, or there is no election); cleared at once when leadership is lost
    private volatile boolean active;

    /** One kind's progress; touched only on the executor thread. */
    private static final class KindState {
        final WatchedKind kind;
        volatile String path; // the collection listed and watched: the kind's path, or an older version's
        String resourceVersion;
        KubernetesApi.Watch watch;
        Duration backoff = MIN_BACKOFF;
        boolean synced;
        boolean reportedMissing;
        long generation; // a watch's callbacks act only while it is the kind's current one

        KindState(WatchedKind kind) {
            this.kind = kind;
            this.path = kind.path();
        }
    }

    /**
     * @param cluster the cluster's id, recorded as the writer of every object ({@code kubernetes:<cluster>})
     * @param election who writes among policy's replicas; null: this one, always
     */
    public KubernetesSource(KubernetesApi api, String cluster, List<String> kinds, LeaderElection election,
            PrometheusRegistry metrics) {
        this.api = api;
        this.election = election;
        this.name = "kubernetes:" + cluster;
        for (String k : kinds) {
            this.kinds.put(k, new KindState(WatchedKind.named(k)));
        }
        this.executor = BackgroundThread.named("policy-kubernetes");
        this.events = Counter.builder().name("policy_kubernetes_events_total")
                .help("Watch events received from the Kubernetes API, by kind and type").labelNames("kind", "type")
                .register(metrics);
        this.lists = Counter.builder().name("policy_kubernetes_lists_total")
                .help("Full lists of a kind (at start, and after a watch could not resume), by outcome")
                .labelNames("kind", "outcome").register(metrics);
        this.watching = Gauge.builder().name("policy_kubernetes_watching")
                .help("1 while a kind is listed and watched (or its CRD is absent), else 0").labelNames("kind")
                .register(metrics);
        for (String k : kinds) {
            watching.labelValues(k).set(0);
        }
    }

    @Override
    public String name() {
        return name;
    }

    /** Whether this replica writes the cluster into the log now (it leads, or there is no election). */
    public boolean writing() {
        return active && !closed;
    }

    /** The collection {@code kind} is listed at ({@link WatchedKind#path()} until a list found an older version). */
    public String servedPath(String kind) {
        KindState k = kinds.get(kind);
        return k == null ? WatchedKind.named(kind).path() : k.path;
    }

    /** Completes once every kind has been listed and applied once (readiness). */
    public CompletableFuture<Void> synced() {
        return synced;
    }

    @Override
    public void start(ConfigSink sink) {
        this.sink = sink;
        if (election == null) {
            executor.execute(this::activate);
            return;
        }
        election.start(new LeaderElection.Listener() {
            @Override
            public void leading() {
                executor.execute(KubernetesSource.this::activate);
            }

            @Override
            public void following() {
                active = false; // the list or write in progress stops at its next step, not after it
                executor.execute(KubernetesSource.this::deactivate);
            }

            @Override
            public void leaderSynced() {
                synced.complete(null);
            }
        });
    }

    /** Starts writing: every kind listed afresh (what changed while another replica led is caught up). */
    private void activate() {
        if (closed) {
            return;
        }
        active = true;
        for (KindState k : kinds.values()) {
            k.synced = false;
            k.backoff = MIN_BACKOFF;
            executor.execute(() -> list(k));
        }
    }

    private void deactivate() {
        if (active) {
            return; // leading again by the time this ran
        }
        for (KindState k : kinds.values()) {
            stopWatch(k);
            k.synced = false;
            watching.labelValues(k.kind.kind()).set(0);
        }
    }

    /** Lists {@code k}, applies it, deletes what vanished, then watches from the list's version. */
    private void list(KindState k) {
        if (closed || !active) {
            return;
        }
        stopWatch(k);
        String kind = k.kind.kind();
        try {
            Set<ConfigKey> seen = new HashSet<>();
            String cont = "";
            String version;
            List<String> candidates = k.kind.paths();
            int candidate = 0;
            while (true) {
                if (!active) {
                    return; // no longer leading: the next leader lists
                }
                KubernetesApi.Response r = api.get(candidates.get(candidate) + "?limit=" + PAGE
                        + (cont.isEmpty() ? "" : "&continue=" + URLEncoder.encode(cont, StandardCharsets.UTF_8)));
                if (r.status() == 404 && k.kind.custom() && cont.isEmpty()) {
                    if (++candidate < candidates.size()) {
                        continue; // a CRD that serves an older version only
                    }
                    missing(k);
                    return;
                }
                if (!r.ok()) {
                    throw new KubernetesException("listing " + candidates.get(candidate) + " failed: " + r.reason());
                }
                if (!candidates.get(candidate).equals(k.path)) {
                    k.path = candidates.get(candidate);
                    log.atInfo().addKeyValue("kind", kind).addKeyValue("path", k.path)
                            .log("the cluster serves this kind at an older version; listing and watching that");
                }
                JsonArray items = r.body().getJsonArray("items", new JsonArray());
                // a page's writes go out together (each key once): a large cluster syncs at the log's pace
                List<CompletableFuture<?>> writes = new ArrayList<>(items.size());
                for (int i = 0; i < items.size(); i++) {
                    Upsert u = upsert(k, items.getJsonObject(i));
                    if (u.key() != null) {
                        seen.add(u.key());
                    }
                    writes.add(u.written());
                }
                write(CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new)));
                JsonObject meta = r.body().getJsonObject("metadata", new JsonObject());
                cont = meta.getString("continue", "");
                version = meta.getString("resourceVersion", "");
                if (cont.isEmpty()) {
                    break;
                }
            }
            if (!active) {
                return; // lost the lease while listing: what vanished is the next leader's to delete
            }
            deleteVanished(kind, seen);
            lists.labelValues(kind, "ok").inc();
            log.atInfo().addKeyValue("kind", kind).addKeyValue("objects", seen.size())
                    .addKeyValue("resourceVersion", version).log("listed; watching");
            k.resourceVersion = version;
            k.backoff = MIN_BACKOFF;
            k.reportedMissing = false;
            markSynced(k);
            watch(k);
        } catch (WriteFailed | KubernetesException e) {
            lists.labelValues(kind, "failed").inc();
            retry(k, "list " + kind + ": " + e.getMessage());
        } catch (RuntimeException e) {
            lists.labelValues(kind, "failed").inc();
            log.atError().setCause(e).addKeyValue("kind", kind).log("listing failed unexpectedly");
            retry(k, "list " + kind + ": " + e);
        }
    }

    /** Deletes what this source wrote of {@code kind} that the cluster no longer holds. */
    private void deleteVanished(String kind, Set<ConfigKey> seen) {
        for (Map.Entry<ConfigKey, ConfigRecord> e : sink.inForce().records().entrySet()) {
            if (e.getKey().kind().equals(kind) && name.equals(e.getValue().getSource())
                    && !seen.contains(e.getKey())) {
                log.atInfo().addKeyValue("object", e.getKey()).log("gone from the cluster; deleting");
                write(sink.delete(e.getKey(), false));
            }
        }
    }

    private void missing(KindState k) {
        lists.labelValues(k.kind.kind(), "not_installed").inc();
        // a CRD removed takes its objects with it
        deleteVanished(k.kind.kind(), Set.of());
        if (!k.reportedMissing) {
            k.reportedMissing = true;
            log.atInfo().addKeyValue("kind", k.kind.kind()).addKeyValue("path", k.kind.path())
                    .log("not served by this cluster (its CRD is not installed); looking again every {}",
                            Durations.format(CRD_RECHECK));
        }
        markSynced(k);
        executor.schedule(() -> list(k), CRD_RECHECK.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void markSynced(KindState k) {
        watching.labelValues(k.kind.kind()).set(1);
        if (!k.synced) {
            k.synced = true;
            if (kinds.values().stream().allMatch(s -> s.synced)) {
                synced.complete(null);
                if (election != null) {
                    election.markSynced();
                }
            }
        }
    }

    private void watch(KindState k) {
        long generation = ++k.generation;
        long started = System.nanoTime();
        k.watch = api.watch(k.path, k.resourceVersion, new KubernetesApi.WatchListener() {
            @Override
            public CompletableFuture<?> onEvent(String type, JsonObject object) {
                return CompletableFuture.runAsync(() -> {
                    if (k.generation == generation && !closed && active) {
                        event(k, type, object);
                    }
                }, executor);
            }

            @Override
            public void onClosed(String reason, boolean opened) {
                if (closed) {
                    return;
                }
                executor.execute(() -> {
                    if (k.generation != generation) {
                        return;
                    }
                    k.watch = null;
                    if (!opened) {
                        // refused (RBAC: no watch verb) or unreachable: a failure, with backoff and a new list
                        retry(k, reason);
                        return;
                    }
                    // the API server ends watches every few minutes: resume from the last version seen (one gone
                    // by then comes back as a 410 ERROR event); one that ends at once backs off
                    Duration wait = MIN_BACKOFF;
                    if (Duration.ofNanos(System.nanoTime() - started).compareTo(SHORT_WATCH) < 0) {
                        wait = k.backoff;
                        k.backoff = grow(k.backoff);
                    } else {
                        k.backoff = MIN_BACKOFF;
                    }
                    log.atDebug().addKeyValue("kind", k.kind.kind()).log("watch ended: {}", reason);
                    executor.schedule(() -> resume(k, generation), wait.toMillis(), TimeUnit.MILLISECONDS);
                });
            }
        });
    }

    private void resume(KindState k, long generation) {
        if (!closed && active && k.generation == generation && k.watch == null) {
            watch(k);
        }
    }

    private void event(KindState k, String type, JsonObject object) {
        events.labelValues(k.kind.kind(), type.isEmpty() ? "unknown" : type).inc();
        String version = object.getJsonObject("metadata", new JsonObject()).getString("resourceVersion");
        try {
            switch (type) {
                case "ADDED", "MODIFIED" -> write(upsert(k, object).written());
                case "DELETED" -> {
                    ConfigKey key = keyOf(k.kind, object);
                    if (key != null) {
                        write(sink.delete(key, false));
                    }
                }
                case "BOOKMARK" -> { }
                case "ERROR" -> {
                    // a Status: 410 Gone when the version is older than the server keeps; anything else alike
                    stopWatch(k);
                    k.resourceVersion = null;
                    log.atInfo().addKeyValue("kind", k.kind.kind()).addKeyValue("code", object.getValue("code"))
                            .log("watch error ({}); listing again", object.getString("message", "no message"));
                    executor.execute(() -> list(k));
                    return;
                }
                default -> log.atWarn().addKeyValue("kind", k.kind.kind()).log("unknown watch event type '{}'", type);
            }
        } catch (WriteFailed e) {
            // the cluster moved on but the log did not: start over from a list, which writes what is missing
            stopWatch(k);
            retry(k, e.getMessage());
            return;
        }
        if (version != null && !version.isEmpty()) {
            k.resourceVersion = version;
        }
    }

    /** What one object became: its key (null when it names none or is not registered) and its write. */
    private record Upsert(ConfigKey key, CompletableFuture<?> written) {}

    /** Writes {@code object} (or, for a pod not scheduled yet or finished, deletes it). */
    private Upsert upsert(KindState k, JsonObject object) {
        WatchedKind kind = k.kind;
        object.put("apiVersion", object.getString("apiVersion", WatchedKind.apiVersionOf(k.path)))
                .put("kind", kind.kind());
        ConfigKey key = keyOf(kind, object);
        if (key == null) {
            return new Upsert(null, CompletableFuture.completedFuture(null));
        }
        String skip = switch (kind.kind()) {
            case "Pod" -> ManifestReader.podNotRecorded(object.encode());
            // most slices are the EndpointSlice controller's, of a Service with a selector, all pods: never written
            // (each pod change rewrites its slice, and its pods list that Service already); pods in other slices are
            // written, they get the slice's Service
            case "EndpointSlice" -> ManifestReader.sliceNotRegistered(object.encode());
            case "Service" -> notRouted(object.getJsonObject("spec", new JsonObject()));
            default -> null;
        };
        if (skip != null) {
            log.atDebug().addKeyValue("object", key).log("not registered: {}", skip);
            return new Upsert(null, sink.delete(key, false));
        }
        return new Upsert(key, sink.apply(List.of(object.encode()), name, false).thenAccept(results -> {
            for (ApplyResult r : results) {
                if (!r.getAccepted()) {
                    r.getErrorsList().forEach(e -> log.atWarn().addKeyValue("object", key)
                            .addKeyValue("path", e.getPath())
                            .log("rejected from the cluster (its last good version stays): {}", e.getMessage()));
                } else {
                    r.getWarningsList().forEach(w -> log.atDebug().addKeyValue("object", key).log(w));
                }
            }
        }));
    }

    /**
     * Why the mesh leaves a Service alone (null: it routes it): an ExternalName service is a DNS alias. (A service
     * without a selector is registered: its endpoints come from its EndpointSlices.)
     */
    private static String notRouted(JsonObject spec) {
        if ("ExternalName".equals(spec.getString("type"))) {
            return "an ExternalName service (a DNS alias, not routed by the mesh)";
        }
        return null;
    }

    /** The object's config-log key; null (and a warning) when it has no usable name. */
    private static ConfigKey keyOf(WatchedKind kind, JsonObject object) {
        JsonObject meta = object.getJsonObject("metadata", new JsonObject());
        boolean clusterScoped = ManifestReader.CLUSTER_SCOPED.contains(kind.kind());
        try {
            return new ConfigKey(kind.kind(), clusterScoped ? "" : meta.getString("namespace", "default"),
                    meta.getString("name", ""));
        } catch (IllegalArgumentException e) {
            log.atWarn().addKeyValue("kind", kind.kind()).log("an object without a usable name: {}", e.getMessage());
            return null;
        }
    }

    private void retry(KindState k, String why) {
        if (closed || !active) {
            return;
        }
        watching.labelValues(k.kind.kind()).set(0);
        Duration wait = k.backoff;
        k.backoff = grow(k.backoff);
        log.atWarn().addKeyValue("kind", k.kind.kind()).log("{}; listing again in {}", why, Durations.format(wait));
        executor.schedule(() -> list(k), wait.toMillis(), TimeUnit.MILLISECONDS);
    }

    private static Duration grow(Duration backoff) {
        Duration next = backoff.multipliedBy(2);
        return next.compareTo(MAX_BACKOFF) > 0 ? MAX_BACKOFF : next;
    }

    private void stopWatch(KindState k) {
        k.generation++;
        if (k.watch != null) {
            k.watch.close();
            k.watch = null;
        }
    }

    /** A config log write that failed or timed out. */
    private static final class WriteFailed extends RuntimeException {
        WriteFailed(String message) {
            super(message);
        }
    }

    private <T> T write(CompletableFuture<T> f) {
        try {
            return f.get(WRITE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException | TimeoutException e) {
            throw new WriteFailed("config log write failed: " + (e.getCause() != null ? e.getCause() : e));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new WriteFailed("interrupted");
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (election != null) {
            election.close(); // released: another replica takes over now, not when the lease expires
        }
        executor.execute(() -> kinds.values().forEach(this::stopWatch));
        BackgroundThread.stop(executor, Duration.ofSeconds(5));
    }
}
