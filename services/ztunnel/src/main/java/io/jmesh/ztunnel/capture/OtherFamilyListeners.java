package io.jmesh.ztunnel.capture;

import io.vertx.core.Future;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The capture listeners ztunnel binds on the loopback of the node address's other IP family ({@link
 * CaptureRules#twin}). Such a bind may fail where that family is switched off (IPv6 disabled by sysctl leaves no
 * {@code ::1}); then the family has nothing to capture, and ztunnel goes on without it, saying so.
 */
public final class OtherFamilyListeners {

    private static final Logger log = LoggerFactory.getLogger(OtherFamilyListeners.class);

    private OtherFamilyListeners() {}

    /** {@code bind}, whose failure is logged and ignored. */
    public static Future<?> optional(Future<?> bind) {
        return bind.recover(e -> {
            log.atWarn().log("no capture listener for the node's other IP family, whose traffic is then not captured:"
                    + " {}", e.getMessage());
            return Future.succeededFuture();
        });
    }
}
