package io.jmesh.ztunnel.inbound;

import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.authz.Authorizer;
import io.jmesh.ztunnel.authz.ConnectionFacts;
import io.jmesh.ztunnel.authz.Decision;
import io.jmesh.ztunnel.discovery.WorkloadIndex;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.jmesh.ztunnel.telemetry.ConnectionTelemetry;
import io.jmesh.ztunnel.telemetry.ResponseFlags;
import io.jmesh.ztunnel.tunnel.Relay;
import io.netty.channel.Channel;
import io.netty.util.AttributeKey;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Open inbound tunnels with the facts they were authorized on, so a policy change re-checks them all and closes
 * the ones now denied (Istio's late rejection). A tunnel is registered before its first check, so a push that lands
 * while its application connect is still under way judges it too. Each re-check reads the destination workload's
 * selector policies afresh from the store: a workload push that attaches a policy to a workload (its
 * {@code authorization_policies}) re-checks that workload's tunnels as a policy push does. Entries leave when their
 * connection closes.
 */
final class OpenInbound {

    private static final Logger log = LoggerFactory.getLogger(OpenInbound.class);

    /** Set on a tunnel a re-check closed: why; its end is then reported with {@code response_flags="DENY"}. */
    private static final AttributeKey<String> DENIED_LATE = AttributeKey.valueOf("jmesh.deniedLate");

    /**
     * How a relayed tunnel's end is reported: {@code DENY} when a policy change closed it (as Istio's late
     * rejection), else {@code CONNECT} for an error and {@code -} for a clean end.
     */
    static Relay.Listener reportEnd(Channel tunnel, ConnectionTelemetry.Tracked tracked) {
        return (fromSource, toSource, error) -> {
            String denied = tunnel.attr(DENIED_LATE).get();
            if (denied != null) {
                tracked.close(fromSource, toSource, ResponseFlags.DENY, denied);
            } else {
                tracked.close(fromSource, toSource, error == null ? "-" : ResponseFlags.CONNECT, error);
            }
        };
    }

    /** What a tunnel was authorized on, and whose selector policies to follow. */
    private record Entry(ConnectionFacts facts, String destinationUid) {}

    private final Map<Channel, Entry> open = new ConcurrentHashMap<>();
    private final Authorizer authorizer;
    private final ConnectionTelemetry telemetry;
    private final WorkloadStore store;

    OpenInbound(Authorizer authorizer, ConnectionTelemetry telemetry, WorkloadStore store) {
        this.authorizer = authorizer;
        this.telemetry = telemetry;
        this.store = store;
        store.onChange(this::workloadsChanged);
    }

    /**
     * Tracks {@code tunnel} (the stream or the accepted plaintext socket) to workload {@code destinationUid} until
     * it closes; call before its first check.
     */
    void track(Channel tunnel, ConnectionFacts facts, String destinationUid) {
        open.put(tunnel, new Entry(facts, destinationUid));
        tunnel.closeFuture().addListener(f -> open.remove(tunnel));
    }

    /** Re-evaluates every open tunnel against the current policies; closes the denied ones. */
    void recheck() {
        WorkloadIndex index = store.current();
        int closed = 0;
        for (var e : open.entrySet()) {
            if (denied(e.getKey(), current(e.getValue(), index))) {
                closed++;
            }
        }
        logClosed(closed);
    }

    /**
     * A workload push: re-checks the tunnels whose destination's selector policies changed in it (a map lookup per
     * open tunnel; the others were judged on the same policies already).
     */
    private void workloadsChanged(WorkloadIndex prev, WorkloadIndex next) {
        int closed = 0;
        for (var e : open.entrySet()) {
            Entry entry = e.getValue();
            ConnectionFacts now = current(entry, next);
            if (now != entry.facts() && denied(e.getKey(), now)) {
                closed++;
            }
        }
        logClosed(closed);
    }

    /** {@code entry}'s facts with its destination's selector policies as {@code index} has them (same if unchanged). */
    private static ConnectionFacts current(Entry entry, WorkloadIndex index) {
        Workload w = index.workloadByUid(entry.destinationUid());
        ConnectionFacts f = entry.facts();
        if (w == null || w.getAuthorizationPoliciesList().equals(f.destinationPolicyKeys())) {
            return f; // gone from the store (the tunnel ends with it) or unchanged
        }
        return new ConnectionFacts(f.sourceIdentity(), f.sourceIp(), f.destinationIp(), f.destinationPort(),
                f.destinationNamespace(), w.getAuthorizationPoliciesList());
    }

    private boolean denied(Channel tunnel, ConnectionFacts facts) {
        open.computeIfPresent(tunnel, (t, e) -> e.facts() == facts ? e : new Entry(facts, e.destinationUid()));
        Decision d = authorizer.check(facts);
        if (d.allowed()) {
            return false;
        }
        String why = "open connection no longer allowed: " + d.reason()
                + (d.policy().isEmpty() ? "" : " (" + d.policy() + ")");
        telemetry.rejected(false, "denied_late", why, null,
                facts.destinationIp().getHostAddress() + ":" + facts.destinationPort());
        tunnel.attr(DENIED_LATE).set(why);
        tunnel.close();
        return true;
    }

    private static void logClosed(int closed) {
        if (closed > 0) {
            log.atInfo().addKeyValue("closed", closed).log("policy change: closed connections no longer allowed");
        }
    }

    int size() {
        return open.size();
    }
}
