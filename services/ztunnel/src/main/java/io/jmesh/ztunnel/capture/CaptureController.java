package io.jmesh.ztunnel.capture;

import io.jmesh.core.admin.Readiness;
import io.jmesh.proto.istio.workload.TunnelProtocol;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.discovery.WorkloadIndex;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the node's capture rules in line with its ambient workloads (node == this node, tunnel protocol HBONE):
 * installs the table and policy routing once, then replaces the address sets in one {@code nft -f -} transaction
 * per change. Workloads without HBONE (namespaces not enrolled) are never captured.
 *
 * <p>On {@link #close()} the rules stay by default ({@code capture.removeOnExit} false): the node's ambient pods stay
 * captured while no ztunnel runs (their packets dropped by the rules' fail-closed drops, a SYN retried until the next
 * ztunnel listens), where removing them let their traffic out in plaintext, past every policy, from the exit until
 * the next ztunnel's first configuration. With {@code removeOnExit} everything is removed.
 *
 * <p>Nothing is programmed before {@link #arm()}, which ztunnel calls once its capture listeners are bound: a second
 * ztunnel on the node (a surge rollout, a stray process) fails to bind while the first holds the ports, and must
 * neither replace nor, exiting, remove the first one's rules. For the same reason {@link #close()} removes the table
 * only if it is still the one this controller installed (by its nftables handle): a ztunnel that started once this
 * one's listeners closed (while it drained) has installed its own, which stays, with the policy routing.
 *
 * <p>{@code nft} and {@code ip} run on a one-thread worker, never on an event loop; changes that arrive while a
 * pass runs are coalesced into the next pass (at most one pending). A failure is logged with the command's
 * message, counted in {@code ztunnel_capture_failures_total{step,reason}} and retried after {@code retryInterval};
 * readiness ({@code capture}) completes on the first successful programming.
 */
public final class CaptureController {

    private static final Logger log = LoggerFactory.getLogger(CaptureController.class);

    private final Vertx vertx;
    private final String node;
    private final CaptureRules rules;
    private final PolicyRouting routing;
    private final Commands commands;
    private final List<String> nft;
    private final List<String> nftWithHandles;
    private final Duration retryInterval;
    private final Readiness.Task ready;
    private final boolean removeOnExit;
    private final WorkerExecutor worker;
    private final Counter failures;
    private final Counter passes;
    private final AtomicBoolean pending = new AtomicBoolean();
    private volatile Set<InetAddress> wanted = Set.of();
    private volatile boolean closed;
    private volatile boolean armed;
    private volatile int captured;

    // worker thread only
    private boolean attempted;
    private boolean installed;
    private Set<InetAddress> applied = Set.of();
    /** The nftables handle of the table installed; -1 while unknown (then it is removed by name). */
    private long tableHandle = -1;

    /**
     * @param nftCommand the {@code nft} executable
     * @param ready completed on the first successful programming
     * @param removeOnExit whether {@link #close()} removes the rules (else they stay for the next ztunnel)
     */
    public CaptureController(Vertx vertx, String node, CaptureRules rules, PolicyRouting routing, Commands commands,
            String nftCommand, Duration retryInterval, Readiness.Task ready, PrometheusRegistry metrics,
            boolean removeOnExit) {
        this.removeOnExit = removeOnExit;
        this.vertx = vertx;
        this.node = node;
        this.rules = rules;
        this.routing = routing;
        this.commands = commands;
        this.nft = List.of(nftCommand, "-f", "-");
        this.nftWithHandles = List.of(nftCommand, "-a", "-f", "-");
        this.retryInterval = retryInterval;
        this.ready = ready;
        this.worker = vertx.createSharedWorkerExecutor("ztunnel-capture", 1, 2, TimeUnit.MINUTES);
        this.failures = Counter.builder().name("ztunnel_capture_failures_total")
                .help("Failed programming of the capture rules (nft/ip), by step and reason")
                .labelNames("step", "reason").register(metrics);
        this.passes = Counter.builder().name("ztunnel_capture_updates_total")
                .help("Successful updates of the captured workload addresses").register(metrics);
        GaugeWithCallback.builder().name("ztunnel_capture_workloads")
                .help("Ambient workload addresses captured on this node").callback(cb -> cb.call(captured))
                .register(metrics);
    }

    /**
     * The addresses to capture: the node's workloads that speak HBONE. Never a host-network workload's, whatever
     * it claims: that address is the node's own, and capturing it would capture the node (ztunnel included).
     */
    public static Set<InetAddress> ambientAddresses(WorkloadIndex index, String node) {
        Set<InetAddress> out = new HashSet<>();
        for (Workload w : index.workloadsOnNode(node)) {
            if (w.getTunnelProtocol() != TunnelProtocol.HBONE || !WorkloadIndex.byAddress(w)) {
                continue;
            }
            for (var raw : w.getAddressesList()) {
                try {
                    out.add(InetAddress.getByAddress(raw.toByteArray()));
                } catch (UnknownHostException e) {
                    // addresses are validated on the way in (AddressValidator)
                }
            }
        }
        return Set.copyOf(out);
    }

    /** Programs the rules for {@code index} (the first pass after {@link #arm()} installs them); returns at once. */
    public void update(WorkloadIndex index) {
        wanted = ambientAddresses(index, node);
        schedule();
    }

    /** Starts programming (the latest {@link #update} and every later one): call once the listeners are bound. */
    public void arm() {
        armed = true;
        schedule();
    }

    private void schedule() {
        if (closed || !armed || !pending.compareAndSet(false, true)) {
            return;
        }
        worker.<Void>executeBlocking(() -> {
            pending.set(false); // a change from now on needs (and gets) another pass
            reconcile();
            return null;
        }, false).onSuccess(v -> ready.complete()).onFailure(e -> {
            if (!closed) {
                vertx.setTimer(retryInterval.toMillis(), id -> schedule());
            }
        });
    }

    private void reconcile() throws Commands.CommandFailure {
        if (closed) {
            return;
        }
        Set<InetAddress> target = wanted;
        if (!installed) {
            attempted = true;
            step("routing", () -> routing.install(commands));
            // the table and its pods in one transaction: a table this replaces (a crashed ztunnel's) holds the
            // node's pods, and a moment of empty sets would let their traffic pass uncaptured
            step("install", () -> commands.run(nft, rules.install() + rules.sync(target)));
            installed = true;
            tableHandle = currentHandle();
            applied = target;
            captured = target.size();
            passes.inc();
            log.atInfo().addKeyValue("table", "inet " + rules.settings().table()).addKeyValue("workloads",
                    target.size()).log("capture rules installed");
        }
        if (!target.equals(applied)) {
            step("sync", () -> commands.run(nft, rules.sync(target)));
            applied = target;
            captured = target.size();
            passes.inc();
            log.atInfo().addKeyValue("workloads", target.size())
                    .addKeyValue("addresses", target.stream().map(InetAddress::getHostAddress).sorted().toList())
                    .log("captured workloads updated");
        }
    }

    private interface Step {
        void run() throws Commands.CommandFailure;
    }

    private void step(String name, Step s) throws Commands.CommandFailure {
        try {
            s.run();
        } catch (Commands.CommandFailure e) {
            failures.labelValues(name, e.reason()).inc();
            log.atWarn().addKeyValue("step", name).addKeyValue("reason", e.reason())
                    .log("capture rules not programmed (retrying in {} ms): {}", retryInterval.toMillis(),
                            e.getMessage());
            throw e;
        }
    }

    /** The handle of the table now in the kernel; -1 if it is missing or cannot be listed. */
    private long currentHandle() {
        try {
            return rules.handle(commands.run(nftWithHandles, rules.list()));
        } catch (Commands.CommandFailure e) {
            return -1;
        }
    }

    /**
     * Removes the table if it is still the one installed here; false (nothing removed, policy routing included) if
     * another ztunnel has installed its own since. A failure otherwise is counted, and the routing goes anyway.
     */
    private boolean removeOwnTable() {
        long own = tableHandle;
        try {
            commands.run(nft, own < 0 ? rules.remove() : rules.remove(own));
            return true;
        } catch (Commands.CommandFailure e) {
            long now = own < 0 ? -1 : currentHandle();
            if (now >= 0 && now != own) {
                log.atInfo().addKeyValue("table", "inet " + rules.settings().table()).addKeyValue("handle", own)
                        .addKeyValue("currentHandle", now)
                        .log("capture rules left in place: another ztunnel on this node has installed its own");
                return false;
            }
            failures.labelValues("remove", e.reason()).inc();
            log.atWarn().log("capture table not removed: {}", e.getMessage());
            return true;
        }
    }

    /**
     * Stops following the workloads (waits for a pass in progress); with {@code removeOnExit}, removes the table and
     * the policy routing. Idempotent.
     */
    public Future<Void> close() {
        if (closed) {
            return Future.succeededFuture();
        }
        closed = true;
        return worker.<Void>executeBlocking(() -> {
            if (attempted && !removeOnExit) {
                log.atInfo().addKeyValue("table", "inet " + rules.settings().table())
                        .log("capture rules left in place: the node's ambient pods stay captured (their traffic"
                                + " dropped) until the next ztunnel replaces them (capture.removeOnExit: false)");
            } else if (attempted && removeOwnTable()) {
                for (String error : routing.remove(commands)) {
                    failures.labelValues("remove", "exit").inc();
                    log.atWarn().log("capture routing not removed: {}", error);
                }
                log.atInfo().addKeyValue("table", "inet " + rules.settings().table()).log("capture rules removed");
            }
            captured = 0;
            return null;
        }, false).eventually(worker::close);
    }
}
