package io.jmesh.ztunnel.authz;

/**
 * Destination-side L4 authorization, evaluated by the receiving ztunnel for every inbound connection (HBONE
 * and plaintext) before it connects to the application, and again for every open connection when policy
 * changes.
 *
 * <p>Implementations read an immutable policy snapshot and never block: this runs on an event loop, per
 * connection.
 */
public interface Authorizer {

    Decision check(ConnectionFacts facts);

    /** Allows everything; what a ztunnel with no policy source behaves like. */
    static Authorizer allowAll() {
        return facts -> Decision.ALLOW_ALL;
    }
}
