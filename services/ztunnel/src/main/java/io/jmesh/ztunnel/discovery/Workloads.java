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

    /**
     * The namespace of a Kubernetes service hostname {@code <name>.<namespace>.svc.<domain>}, or null for any other
     * name (which names no namespace: on-demand discovery cannot ask for it, {@code namespace/hostname} being the
     * alias).
     */
    public static String serviceNamespace(String host) {
        int first = host.indexOf('.');
        if (first <= 0) {
            return null;
        }
        int second = host.indexOf('.', first + 1);
        if (second <= first + 1) {
            return null;
        }
        return host.startsWith("svc.", second + 1) && host.length() > second + 5 && !host.endsWith(".")
                ? host.substring(first + 1, second) : null;
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
        // the name metrics use for the workload (its workload name, else its own name)
        append(b, "k8s." + type + ".name", w.getWorkloadName().isEmpty() ? w.getName() : w.getWorkloadName());
        append(b, "service.name", w.getCanonicalName());
        append(b, "service.version", w.getCanonicalRevision());
        if (w.hasLocality()) {
            append(b, "cloud.region", w.getLocality().getRegion());
            append(b, "cloud.availability_zone", w.getLocality().getZone());
        }
        return b.toString();
    }

    /**
     * The source of a tunnel that came through an east-west gateway, as its {@code baggage} describes it (Istio:
     * the peer address is the gateway's, so the labels come from the header). Read as Istio's
     * {@code parse_baggage_header}: every comma-separated entry, the value up to the next {@code =}, a later entry
     * overriding an earlier one, and an empty value clearing the field. Only the keys {@link #baggage} writes are
     * read; a value that is not printable ASCII of at most 253 characters is ignored. Nothing comes from the peer
     * identity but its trust domain and service account (the namespace is the baggage's, as Istio's derived source,
     * "unknown" in the metrics without one); its principal label is the verified certificate's, never the header's.
     * It has no uid, which every discovered workload has: {@link #isDerived} tells it apart.
     */
    public static Workload fromBaggage(CharSequence baggage, SpiffeId identity) {
        Workload.Builder w = Workload.newBuilder();
        if (identity != null) {
            w.setTrustDomain(identity.trustDomain()).setServiceAccount(identity.serviceAccount());
        }
        if (baggage == null) {
            return w.build();
        }
        for (String entry : baggage.toString().split(",")) {
            int eq = entry.indexOf('=');
            if (eq <= 0) {
                continue;
            }
            int end = entry.indexOf('=', eq + 1);
            String k = entry.substring(0, eq).trim();
            String v = entry.substring(eq + 1, end < 0 ? entry.length() : end).trim();
            if (v.length() > 253 || !v.chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
                continue;
            }
            set(w, k, v);
        }
        return w.build();
    }

    /**
     * Whether {@code w} is a source known only from its baggage ({@link #fromBaggage}; Istio's derived source),
     * not a discovered workload (whose uid is never empty: discovery refuses one without).
     */
    public static boolean isDerived(Workload w) {
        return w.getUid().isEmpty();
    }

    /** One baggage entry into {@code w}; an empty value clears the field. */
    private static void set(Workload.Builder w, String k, String v) {
        switch (k) {
            case "k8s.cluster.name" -> w.setClusterId(v);
            case "k8s.namespace.name" -> w.setNamespace(v);
            case "k8s.deployment.name", "k8s.pod.name", "k8s.job.name", "k8s.cronjob.name" -> {
                w.setWorkloadName(v).setName(v);
                w.setWorkloadType(switch (k) {
                    case "k8s.pod.name" -> io.jmesh.proto.istio.workload.WorkloadType.POD;
                    case "k8s.job.name" -> io.jmesh.proto.istio.workload.WorkloadType.JOB;
                    case "k8s.cronjob.name" -> io.jmesh.proto.istio.workload.WorkloadType.CRONJOB;
                    default -> io.jmesh.proto.istio.workload.WorkloadType.DEPLOYMENT;
                });
            }
            case "service.name" -> w.setCanonicalName(v);
            case "service.version" -> w.setCanonicalRevision(v);
            case "cloud.region" -> w.getLocalityBuilder().setRegion(v);
            case "cloud.availability_zone" -> w.getLocalityBuilder().setZone(v);
            default -> { } // other keys are not ours to read
        }
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
