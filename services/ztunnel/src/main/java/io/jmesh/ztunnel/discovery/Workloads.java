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

    /**
     * Istio's {@code baggage} describing a workload: cluster, namespace, workload name by kind, canonical name and
     * revision, region and zone; empty fields omitted. Sent by the client about the source on CONNECT and by the
     * server about the destination on the 200.
     */
    public static String baggage(Workload w) {
        StringBuilder b = new StringBuilder();
        append(b, "k8s.cluster.name", w.getClusterId());
        append(b, "k8s.namespace.name", w.getNamespace());
        String type = switch (w.getWorkloadType()) {
            case CRONJOB -> "cronjob";
            case POD -> "pod";
            case JOB -> "job";
            default -> "deployment";
        };
        append(b, "k8s." + type + ".name", w.getWorkloadName());
        append(b, "service.name", w.getCanonicalName());
        append(b, "service.version", w.getCanonicalRevision());
        if (w.hasLocality()) {
            append(b, "cloud.region", w.getLocality().getRegion());
            append(b, "cloud.availability_zone", w.getLocality().getZone());
        }
        return b.toString();
    }

    private static void append(StringBuilder b, String k, String v) {
        if (v != null && !v.isEmpty()) {
            if (b.length() > 0) {
                b.append(',');
            }
            b.append(k).append('=').append(v);
        }
    }
}
