package io.jmesh.policy.state;

import io.jmesh.core.xds.XdsTypes;

/** The xDS type URLs ztunnel subscribes to. */
public final class TypeUrls {

    public static final String ADDRESS = XdsTypes.ADDRESS;
    public static final String AUTHORIZATION = XdsTypes.AUTHORIZATION;
    public static final String PARTIAL_SUFFIX = XdsTypes.PARTIAL_SUFFIX;

    private TypeUrls() {}
}
