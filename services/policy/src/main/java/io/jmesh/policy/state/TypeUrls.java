package io.jmesh.policy.state;

/** The xDS type URLs ztunnel subscribes to. */
public final class TypeUrls {

    public static final String ADDRESS = "type.googleapis.com/istio.workload.Address";
    public static final String AUTHORIZATION = "type.googleapis.com/istio.security.Authorization";

    private TypeUrls() {}
}
