package io.jmesh.ztunnel.inpod;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.proto.istio.workload.zds.WorkloadInfo;
import io.jmesh.ztunnel.discovery.WorkloadIndex;
import io.jmesh.ztunnel.tls.TrustSnapshot;
import io.jmesh.ztunnel.trust.RevokedConnections;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Future;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pods ztunnel proxies in in-pod mode, kept as the CNI node agent describes them (Istio's workload manager
 * state): {@code add} starts a pod's proxy (idempotent; a new network namespace for a known pod replaces its proxy),
 * {@code del} closes it, and after a (re)connection the agent's snapshot ends with {@code snapshotSent}, when pods
 * neither added nor kept since are closed. A pod whose listeners cannot be opened is refused to the agent and kept
 * pending, retried by {@link #retryPending}.
 *
 * <p>Changed only from the agent link's thread (which may block on a pod's start); read from any thread.
 */
final class PodProxies {

    private static final Logger log = LoggerFactory.getLogger(PodProxies.class);
    private static final Duration START_TIMEOUT = Duration.ofSeconds(30);

    /** A request the agent may not make at this point of the protocol; the link reconnects after refusing it. */
    static final class ProtocolError extends Exception {
        ProtocolError(String message) {
            super(message);
        }
    }

    /** Text from the agent as it may be quoted in errors and logs: printable ASCII, the rest escaped. */
    static String show(String text) {
        StringBuilder b = new StringBuilder(text.length() + 2).append('\'');
        text.codePoints().forEach(c -> {
            if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
                b.append((char) c);
            } else {
                b.append(c <= 0xffff ? String.format("\\u%04x", c) : String.format("\\U%08x", c));
            }
        });
        return b.append('\'').toString();
    }

    private record Pending(WorkloadInfo info, PodNetns netns) {}

    private final PodProxy.Node node;
    private final Runnable podsChanged;
    private final Map<String, PodProxy> active = new ConcurrentHashMap<>();
    private final Map<String, Pending> pending = new ConcurrentHashMap<>();
    private final Set<String> seenSinceConnect = new HashSet<>();
    private boolean snapshotReceived;
    private final Counter started;
    private final Counter stopped;

    /** {@code podsChanged} runs (on the link's thread) whenever a pod is added, fails to start, or goes. */
    PodProxies(PodProxy.Node node, PrometheusRegistry metrics, Runnable podsChanged) {
        this.node = node;
        this.podsChanged = podsChanged;
        GaugeWithCallback.builder().name("workload_manager_active_proxy_count")
                .help("Pods whose in-pod proxy is running").callback(cb -> cb.call(active.size())).register(metrics);
        GaugeWithCallback.builder().name("workload_manager_pending_proxy_count")
                .help("Pods whose in-pod proxy failed to start and is retried")
                .callback(cb -> cb.call(pending.size())).register(metrics);
        this.started = Counter.builder().name("workload_manager_proxies_started").help("In-pod proxies started")
                .register(metrics);
        this.stopped = Counter.builder().name("workload_manager_proxies_stopped").help("In-pod proxies stopped")
                .register(metrics);
    }

    /** A new connection to the agent: a new snapshot follows. */
    void connected() {
        seenSinceConnect.clear();
        snapshotReceived = false;
        pending.values().forEach(p -> p.netns().close());
        pending.clear();
        podsChanged.run();
    }

    /**
     * The identities of the pods the agent gave this node, running or pending, from their {@code WorkloadInfo}
     * (namespace and service account, in the node's trust domain): what runs here as the CNI agent knows it, so
     * their certificates are fetched when a pod is added rather than when discovery (on demand: its first
     * connection) names its workload. Any thread.
     */
    Set<SpiffeId> identities() {
        Set<SpiffeId> ids = new HashSet<>();
        String trustDomain = node.config().node().trustDomain();
        for (PodProxy p : active.values()) {
            addIdentity(ids, trustDomain, p.info());
        }
        for (Pending p : pending.values()) {
            addIdentity(ids, trustDomain, p.info());
        }
        return ids;
    }

    private static void addIdentity(Set<SpiffeId> ids, String trustDomain, WorkloadInfo info) {
        try {
            ids.add(SpiffeId.of(trustDomain, info.getNamespace(),
                    info.getServiceAccount().isEmpty() ? "default" : info.getServiceAccount()));
        } catch (IllegalArgumentException e) {
            // a name no identity can carry: the pod still gets its proxy, and discovery its identity if any
            log.atDebug().addKeyValue("pod", show(info.getNamespace() + "/" + info.getName()))
                    .log("no identity from the agent's workload info: {}", e.getMessage());
        }
    }

    /** Ready once the first snapshot is reconciled and every pod's proxy runs. */
    boolean ready() {
        return snapshotReceived && pending.isEmpty();
    }

    /** Starts (or keeps) the pod's proxy; takes ownership of {@code netns}. Returns the error for the agent, or "". */
    String add(String uid, WorkloadInfo info, PodNetns netns) throws ProtocolError {
        if (uid.isEmpty()) {
            netns.close();
            throw new ProtocolError("AddWorkload without a uid");
        }
        if (info == null) {
            netns.close();
            throw new ProtocolError("AddWorkload " + show(uid) + ": workload_info is required");
        }
        if (!snapshotReceived) {
            seenSinceConnect.add(uid);
        }
        PodProxy existing = active.get(uid);
        if (existing != null) {
            if (existing.netnsId().equals(netns.id())) {
                netns.close(); // the same pod again: nothing to do
                return "";
            }
            log.atInfo().addKeyValue("uid", uid).addKeyValue("old", existing.netnsId()).addKeyValue("new", netns.id())
                    .log("pod has a new network namespace (sandbox re-created): replacing its proxy");
            remove(uid);
        }
        Pending stale = pending.remove(uid);
        if (stale != null) {
            // the agent sent the pod again (kubelet retried it, maybe in a new sandbox): this descriptor replaces the
            // one kept for the retry, which would otherwise stay open and keep that namespace alive
            stale.netns().close();
        }
        return start(uid, info, netns);
    }

    private String start(String uid, WorkloadInfo info, PodNetns netns) {
        String error;
        netns.migrateAcceptQueues(); // before its listeners join the group: a handover later loses nothing queued
        Future<PodProxy> starting = PodProxy.start(node, uid, info, netns);
        try {
            PodProxy p = starting.toCompletionStage().toCompletableFuture()
                    .get(START_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            active.put(uid, p);
            pending.remove(uid);
            started.inc();
            log.atInfo().addKeyValue("uid", uid).addKeyValue("pod", info.getNamespace() + "/" + info.getName())
                    .addKeyValue("netns", netns.id()).log("in-pod proxy started");
            podsChanged.run();
            return "";
        } catch (ExecutionException e) {
            error = e.getCause() == null ? String.valueOf(e) : e.getCause().getMessage();
        } catch (TimeoutException e) {
            starting.onSuccess(PodProxy::close); // too late: the retry starts afresh
            error = "listeners not open after " + START_TIMEOUT.toSeconds() + "s";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            error = "interrupted";
        }
        String message = "cannot start the proxy of pod " + show(info.getNamespace() + "/" + info.getName()) + " (uid "
                + show(uid) + ") in " + netns.id() + ": " + error;
        log.atWarn().log("{}; retrying every {}", message, node.config().inpod().retryInterval());
        Pending old = pending.put(uid, new Pending(info, netns));
        if (old != null && old.netns() != netns) {
            old.netns().close();
        }
        podsChanged.run();
        return message;
    }

    /** Before the snapshot only: the pod stays although it is not re-added. */
    void keep(String uid) throws ProtocolError {
        if (snapshotReceived) {
            throw new ProtocolError("KeepWorkload " + show(uid) + " after SnapshotSent");
        }
        seenSinceConnect.add(uid);
    }

    void del(String uid) {
        if (!snapshotReceived) {
            seenSinceConnect.remove(uid); // reconciliation closes it, if it runs
            Pending p = pending.remove(uid);
            if (p != null) {
                p.netns().close();
                podsChanged.run();
            }
            return;
        }
        remove(uid);
    }

    /** Closes every pod neither added nor kept since the connection began. */
    void snapshotSent() throws ProtocolError {
        if (snapshotReceived) {
            throw new ProtocolError("a second SnapshotSent on one connection");
        }
        for (String uid : new ArrayList<>(active.keySet())) {
            if (!seenSinceConnect.contains(uid)) {
                log.atInfo().addKeyValue("uid", uid).log("pod not in the node agent's snapshot: closing its proxy");
                remove(uid);
            }
        }
        seenSinceConnect.clear();
        snapshotReceived = true;
    }

    private void remove(String uid) {
        Pending p = pending.remove(uid);
        if (p != null) {
            p.netns().close();
        }
        PodProxy proxy = active.remove(uid);
        if (proxy != null) {
            proxy.close();
            proxy.netns().close();
            stopped.inc();
            log.atInfo().addKeyValue("uid", uid).log("in-pod proxy stopped");
        }
        if (p != null || proxy != null) {
            podsChanged.run();
        }
    }

    /** Tries the pending pods again (on the link's thread). */
    void retryPending() {
        for (var e : new ArrayList<>(pending.entrySet())) {
            if (pending.remove(e.getKey(), e.getValue())) {
                start(e.getKey(), e.getValue().info(), e.getValue().netns());
            }
        }
    }

    boolean hasPending() {
        return !pending.isEmpty();
    }

    List<PodProxy> all() {
        return List.copyOf(active.values());
    }

    PodProxy get(String uid) {
        return active.get(uid);
    }

    void onWorkloadsChanged(WorkloadIndex next) {
        active.values().forEach(p -> p.onWorkloadsChanged(next));
    }

    void closeRevoked(TrustSnapshot trust, boolean rootsRemoved, RevokedConnections revoked) {
        active.values().forEach(p -> p.closeRevoked(trust, rootsRemoved, revoked));
    }

    void drain() {
        active.values().forEach(PodProxy::drain);
    }

    int openConnections() {
        return active.values().stream().mapToInt(PodProxy::openConnections).sum();
    }

    int awaitingWorkload() {
        return active.values().stream().mapToInt(PodProxy::awaitingWorkload).sum();
    }

    /** ztunnel stops: every pod's proxy is closed (their namespaces released). */
    void closeAll() {
        for (String uid : new ArrayList<>(active.keySet())) {
            PodProxy p = active.remove(uid);
            if (p != null) {
                p.close();
                p.netns().close();
            }
        }
        pending.values().forEach(p -> p.netns().close());
        pending.clear();
    }

    /** Each pod's proxy by uid, for the admin dump: {@code Up} or {@code Pending}, the agent's info, the netns. */
    io.vertx.core.json.JsonObject state() {
        io.vertx.core.json.JsonObject out = new io.vertx.core.json.JsonObject();
        active.forEach((uid, p) -> out.put(uid, entry("Up", p.info(), p.netnsId())));
        pending.forEach((uid, p) -> out.put(uid, entry("Pending", p.info(), p.netns().id())));
        return out;
    }

    private static io.vertx.core.json.JsonObject entry(String state, WorkloadInfo info, String netns) {
        return new io.vertx.core.json.JsonObject().put("state", state).put("netns", netns)
                .put("info", new io.vertx.core.json.JsonObject().put("name", info.getName())
                        .put("namespace", info.getNamespace()).put("serviceAccount", info.getServiceAccount()));
    }

    /** Uids of running pods (the admin dump). */
    Set<String> activeUids() {
        return new HashSet<>(active.keySet());
    }
}
