package io.jmesh.ztunnel.telemetry;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.discovery.Workloads;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;

/**
 * The label sets of Istio's L4 metrics, in Istio's order and with its "unknown" for what is not known: the
 * {@code istio_tcp_*} series of a connection, less the labels {@code telemetry.removeLabels} takes out (an instance
 * is one such set), and the {@code istio_on_demand_dns_total} series of a lookup.
 */
public final class IstioTcpLabels {

    /** Istio's labels of the {@code istio_tcp_*} metrics, in its order. */
    private static final String[] ISTIO = {"reporter", "source_workload", "source_canonical_service",
        "source_canonical_revision", "source_workload_namespace", "source_principal", "source_app", "source_version",
        "source_cluster", "destination_service", "destination_service_namespace", "destination_service_name",
        "destination_workload", "destination_canonical_service", "destination_canonical_revision",
        "destination_workload_namespace", "destination_principal", "destination_app", "destination_version",
        "destination_cluster", "request_protocol", "response_flags", "connection_security_policy"};
    /** Istio's {@code OnDemandDnsLabels}: the client workload and the name resolved. */
    static final String[] ON_DEMAND_DNS_NAMES = {"source_workload", "source_canonical_service",
        "source_canonical_revision", "source_workload_namespace", "source_principal", "source_app", "source_version",
        "source_cluster", "hostname"};

    private static final int DNS_SOURCE_WORKLOAD = indexOf(ON_DEMAND_DNS_NAMES, "source_workload");
    private static final int DNS_SOURCE_NAMESPACE = indexOf(ON_DEMAND_DNS_NAMES, "source_workload_namespace");
    private static final int DNS_HOSTNAME = indexOf(ON_DEMAND_DNS_NAMES, "hostname");

    /** How many labels describe one side of a connection ({@link #peer}). */
    private static final int PEER_LABELS = 8;

    /** All of Istio's labels. */
    static final IstioTcpLabels ALL = new IstioTcpLabels(List.of());

    /** The labels exported, in Istio's order. */
    private final String[] names;
    /** For each exported label its place in Istio's set; null when every label is exported. */
    private final int[] exported;
    /** Places in {@link #names}; -1 for a removed label. */
    private final int responseFlags;
    private final int sourceWorkload;
    private final int sourceNamespace;
    private final int destinationWorkload;
    private final int destinationNamespace;

    private IstioTcpLabels(Collection<String> removed) {
        checkRemovable(removed);
        List<String> kept = new ArrayList<>();
        List<Integer> places = new ArrayList<>();
        for (int i = 0; i < ISTIO.length; i++) {
            if (!removed.contains(ISTIO[i])) {
                kept.add(ISTIO[i]);
                places.add(i);
            }
        }
        names = kept.toArray(String[]::new);
        exported = removed.isEmpty() ? null : places.stream().mapToInt(Integer::intValue).toArray();
        responseFlags = kept.indexOf("response_flags");
        sourceWorkload = kept.indexOf("source_workload");
        sourceNamespace = kept.indexOf("source_workload_namespace");
        destinationWorkload = kept.indexOf("destination_workload");
        destinationNamespace = kept.indexOf("destination_workload_namespace");
    }

    /**
     * Istio's {@code istio_tcp_*} labels less {@code removed} (as Istio's Telemetry API removes a tag from a metric:
     * its series then add up what differed only in it).
     *
     * @throws IllegalArgumentException naming a label that is not one of them, or {@code reporter}
     */
    static IstioTcpLabels without(Collection<String> removed) {
        return removed.isEmpty() ? ALL : new IstioTcpLabels(List.copyOf(removed));
    }

    /**
     * Checks {@code telemetry.removeLabels}: each an {@code istio_tcp_*} label other than {@code reporter}.
     *
     * @throws IllegalArgumentException naming the first that is not
     */
    public static void checkRemovable(Collection<String> removed) {
        for (String label : removed) {
            if ("reporter".equals(label)) {
                throw new IllegalArgumentException("telemetry.removeLabels: 'reporter' cannot be removed (a ztunnel "
                        + "reports connections as source and as destination: without it the two reports of one "
                        + "connection between two workloads of this node would add up in one series)");
            }
            if (!Arrays.asList(ISTIO).contains(label)) {
                throw new IllegalArgumentException("telemetry.removeLabels: '" + label + "' is not a label of the "
                        + "istio_tcp_* metrics (expected some of: " + String.join(", ",
                                Arrays.asList(ISTIO).subList(1, ISTIO.length)) + ")");
            }
        }
    }

    /** The labels exported, in Istio's order. */
    String[] names() {
        return names.clone();
    }

    /** The place of {@code response_flags} in {@link #names()}; -1 when removed. */
    int responseFlags() {
        return responseFlags;
    }

    /** {@code reporter}: the side that reports the connection. */
    static String reporter(ConnectionInfo info) {
        return info.outbound() ? "source" : "destination";
    }

    /** The exported labels of {@code i} with {@code flags} as its {@code response_flags}. */
    String[] of(ConnectionInfo i, String flags) {
        Service svc = i.service();
        String[] l = new String[ISTIO.length];
        l[0] = reporter(i);
        peer(l, 1, i.source(), i.sourcePrincipal());
        l[1 + PEER_LABELS] = svc == null ? "unknown" : svc.getHostname();
        l[2 + PEER_LABELS] = svc == null ? "unknown" : svc.getNamespace();
        l[3 + PEER_LABELS] = svc == null ? "unknown" : orUnknown(svc.getName());
        peer(l, 4 + PEER_LABELS, i.destination(), i.destinationPrincipal());
        l[4 + 2 * PEER_LABELS] = "tcp";
        l[5 + 2 * PEER_LABELS] = flags;
        l[6 + 2 * PEER_LABELS] = i.mtls() ? "mutual_tls" : "unknown";
        if (exported == null) {
            return l;
        }
        String[] kept = new String[exported.length];
        for (int k = 0; k < exported.length; k++) {
            kept[k] = l[exported[k]];
        }
        return kept;
    }

    /**
     * The series name of the source of a series with these labels ({@link #seriesName(Workload)}); null when its
     * workload or namespace label was removed (the series then goes only once idle).
     */
    String sourceName(List<String> labels) {
        return sourceWorkload < 0 || sourceNamespace < 0 ? null
                : seriesName(labels.get(sourceNamespace), labels.get(sourceWorkload));
    }

    /** As {@link #sourceName}, of the destination. */
    String destinationName(List<String> labels) {
        return destinationWorkload < 0 || destinationNamespace < 0 ? null
                : seriesName(labels.get(destinationNamespace), labels.get(destinationWorkload));
    }

    /** The {@code istio_on_demand_dns_total} labels of a lookup of {@code hostname} for {@code source}. */
    static String[] onDemandDns(Workload source, SpiffeId sourcePrincipal, String hostname) {
        String[] labels = new String[PEER_LABELS + 1];
        peer(labels, 0, source, sourcePrincipal);
        labels[PEER_LABELS] = orUnknown(hostname);
        return labels;
    }

    /** The series name of the client of an {@code istio_on_demand_dns_total} series, and its hostname. */
    static String dnsSourceName(List<String> labels) {
        return seriesName(labels.get(DNS_SOURCE_NAMESPACE), labels.get(DNS_SOURCE_WORKLOAD));
    }

    static String dnsHostname(List<String> labels) {
        return labels.get(DNS_HOSTNAME);
    }

    /**
     * The workload's name and namespace as its series' labels carry them ("namespace/workload"), the key by which
     * series expire with their workloads; null for one labelled "unknown".
     */
    static String seriesName(Workload w) {
        String name = orUnknown(w.getWorkloadName().isEmpty() ? w.getName() : w.getWorkloadName());
        return "unknown".equals(name) ? null : seriesName(orUnknown(w.getNamespace()), name);
    }

    private static String seriesName(String namespace, String workload) {
        return namespace + "/" + workload;
    }

    /**
     * Writes one side's labels at {@code out[at..at+7]}, in Istio's order: workload, canonical service, canonical
     * revision, namespace, principal, app, version, cluster ("unknown" for what is not known).
     */
    private static void peer(String[] out, int at, Workload w, SpiffeId principal) {
        boolean known = w != null;
        out[at] = known ? orUnknown(w.getWorkloadName().isEmpty() ? w.getName() : w.getWorkloadName()) : "unknown";
        out[at + 1] = known ? orUnknown(w.getCanonicalName()) : "unknown";
        out[at + 2] = known ? orUnknown(w.getCanonicalRevision()) : "unknown";
        out[at + 3] = known ? orUnknown(w.getNamespace()) : "unknown";
        out[at + 4] = principal == null ? "unknown" : principal.uri();
        // app: the canonical service, as Istio's ztunnel reports it; for a source known only from its baggage the
        // workload name, as its with_derived_source
        out[at + 5] = known && Workloads.isDerived(w) ? out[at] : out[at + 1];
        out[at + 6] = out[at + 2]; // version: the canonical revision
        out[at + 7] = known ? orUnknown(w.getClusterId()) : "unknown";
    }

    private static String orUnknown(String s) {
        return s == null || s.isEmpty() ? "unknown" : s;
    }

    private static int indexOf(String[] names, String name) {
        int i = Arrays.asList(names).indexOf(name);
        if (i < 0) {
            throw new IllegalStateException("no label " + name);
        }
        return i;
    }
}
