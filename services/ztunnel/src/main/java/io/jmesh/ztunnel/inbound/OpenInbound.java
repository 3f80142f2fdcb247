package io.jmesh.ztunnel.inbound;

import io.jmesh.ztunnel.authz.Authorizer;
import io.jmesh.ztunnel.authz.ConnectionFacts;
import io.jmesh.ztunnel.authz.Decision;
import io.jmesh.ztunnel.telemetry.ConnectionTelemetry;
import io.netty.channel.Channel;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Open inbound tunnels with the facts they were authorized on, so a policy change re-checks them all and closes
 * the ones now denied (Istio's late rejection). Entries leave when their connection closes.
 */
final class OpenInbound {

    private static final Logger log = LoggerFactory.getLogger(OpenInbound.class);

    private final Map<Channel, ConnectionFacts> open = new ConcurrentHashMap<>();
    private final Authorizer authorizer;
    private final ConnectionTelemetry telemetry;

    OpenInbound(Authorizer authorizer, ConnectionTelemetry telemetry) {
        this.authorizer = authorizer;
        this.telemetry = telemetry;
    }

    /** Tracks {@code tunnel} (the stream or the accepted plaintext socket) until it closes. */
    void track(Channel tunnel, ConnectionFacts facts) {
        open.put(tunnel, facts);
        tunnel.closeFuture().addListener(f -> open.remove(tunnel));
    }

    /** Re-evaluates every open tunnel; closes the denied ones. */
    void recheck() {
        int closed = 0;
        for (var e : open.entrySet()) {
            Decision d = authorizer.check(e.getValue());
            if (!d.allowed()) {
                telemetry.rejected(false, "denied_late", "open connection no longer allowed: " + d.reason()
                        + (d.policy().isEmpty() ? "" : " (" + d.policy() + ")"), null,
                        e.getValue().destinationIp().getHostAddress() + ":" + e.getValue().destinationPort());
                e.getKey().close();
                closed++;
            }
        }
        if (closed > 0) {
            log.atInfo().addKeyValue("closed", closed).log("policy change: closed connections no longer allowed");
        }
    }

    int size() {
        return open.size();
    }
}
