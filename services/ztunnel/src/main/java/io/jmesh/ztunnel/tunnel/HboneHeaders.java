package io.jmesh.ztunnel.tunnel;

/** HBONE request headers both sides of a tunnel read. */
public final class HboneHeaders {

    /**
     * Istio's header on the inner CONNECT of double HBONE: the network the client is on. A receiver on another
     * network knows the tunnel came through an east-west gateway (its peer address is the gateway's).
     */
    public static final String FORWARDED_NETWORK = "x-forwarded-network";

    private HboneHeaders() {}
}
