package io.jmesh.ztunnel.discovery;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.proto.istio.workload.Workload;

/** Small facts derived from a {@link Workload}, with Istio's defaults. */
public final class Workloads {

    private Workloads() {}

    /** The workload's SPIFFE identity; trust domain defaults to {@code defaultTrustDomain}, account to default. */
    public static SpiffeId identity(Workload w, String defaultTrustDomain) {
        String td = w.getTrustDomain().isEmpty() ? defaultTrustDomain : w.getTrustDomain();
        String sa = w.getServiceAccount().isEmpty() ? "default" : w.getServiceAccount();
        return SpiffeId.of(td, w.getNamespace(), sa);
    }

    /** Capacity weight for load balancing (Istio: default 1). */
    public static int capacity(Workload w) {
        return w.hasCapacity() ? w.getCapacity().getValue() : 1;
    }
}
