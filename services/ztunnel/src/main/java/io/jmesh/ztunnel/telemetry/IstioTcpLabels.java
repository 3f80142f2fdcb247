package io.jmesh.ztunnel.telemetry;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.discovery.Workloads;
import java.util.Arrays;
import java.util.List;

/**
 * The label sets of Istio's L4 metrics, in Istio's order and with its "unknown" for what is not known: the
 * {@code istio_tcp_*} series of a connection and the {@code istio_on_demand_dns_total} series of a lookup.
 */
final class IstioTcpLabels {

    static final String[] NAMES = {"reporter", "source_workload", "source_canonical_service",
        "source_canonical_revision", "source_workload_namespace", "source_principal", "source_app", "source_version",
        "source_cluster", "destination_service", "destination_service_namespace", "destination_service_name",
        "destination_workload", "destination_canonical_service", "destination_canonical_revision",
        "destination_workload_namespace", "destination_principal", "destination_app", "destination_version",
        "destination_cluster", "request_protocol", "response_flags", "connection_security_policy"};
    /** Istio's {@code OnDemandDnsLabels}: the client workload and the name resolved. */
    static final String[] ON_DEMAND_DNS_NAMES = {"source_workload", "source_canonical_service",
        "source_canonical_revision", "source_workload_namespace", "source_principal", "source_app", "source_version",
        "source_cluster", "hostname"};

    static final int RESPONSE_FLAGS = indexOf(NAMES, "response_flags");
    private static final int SOURCE_WORKLOAD = indexOf(NAMES, "source_workload");
    private static final int SOURCE_NAMESPACE = indexOf(NAMES, "source_workload_namespace");
    private static final int DESTINATION_WORKLOAD = indexOf(NAMES, "destination_workload");
    private static final int DESTINATION_NAMESPACE = indexOf(NAMES, "destination_workload_namespace");
    private static final int DNS_SOURCE_WORKLOAD = indexOf(ON_DEMAND_DNS_NAMES, "source_workload");
    private static final int DNS_SOURCE_NAMESPACE = indexOf(ON_DEMAND_DNS_NAMES, "source_workload_namespace");
    private static final int DNS_HOSTNAME = indexOf(ON_DEMAND_DNS_NAMES, "hostname");

    /** How many labels describe one side of a connection ({@link #peer}). */
    private static final int PEER_LABELS = 8;

    private IstioTcpLabels() {}

    /** {@code reporter}: the side that reports the connection. */
    static String reporter(ConnectionInfo info) {
        return info.outbound() ? "source" : "destination";
    }

    /** The {@code istio_tcp_*} labels of {@code i} with {@code flags} as its {@code response_flags}. */
    static String[] of(ConnectionInfo i, String flags) {
        Service svc = i.service();
        String[] l = new String[NAMES.length];
        l[0] = reporter(i);
        peer(l, 1, i.source(), i.sourcePrincipal());
        l[1 + PEER_LABELS] = svc == null ? "unknown" : svc.getHostname();
        l[2 + PEER_LABELS] = svc == null ? "unknown" : svc.getNamespace();
        l[3 + PEER_LABELS] = svc == null ? "unknown" : orUnknown(svc.getName());
        peer(l, 4 + PEER_LABELS, i.destination(), i.destinationPrincipal());
        l[4 + 2 * PEER_LABELS] = "tcp";
        l[5 + 2 * PEER_LABELS] = flags;
        l[6 + 2 * PEER_LABELS] = i.mtls() ? "mutual_tls" : "unknown";
        return l;
    }

    /** The {@code istio_on_demand_dns_total} labels of a lookup of {@code hostname} for {@code source}. */
    static String[] onDemandDns(Workload source, SpiffeId sourcePrincipal, String hostname) {
        String[] labels = new String[PEER_LABELS + 1];
        peer(labels, 0, source, sourcePrincipal);
        labels[PEER_LABELS] = orUnknown(hostname);
        return labels;
    }

    /**
     * The workload's name and namespace as its series' labels carry them ("namespace/workload"), the key by which
     * series expire with their workloads; null for one labelled "unknown".
     */
    static String seriesName(Workload w) {
        String name = orUnknown(w.getWorkloadName().isEmpty() ? w.getName() : w.getWorkloadName());
        return "unknown".equals(name) ? null : seriesName(orUnknown(w.getNamespace()), name);
    }

    /** A workload's series name from its namespace and workload labels. */
    static String seriesName(String namespace, String workload) {
        return namespace + "/" + workload;
    }

    /** The series name of each side of a {@code istio_tcp_*} series. */
    static String sourceName(List<String> labels) {
        return seriesName(labels.get(SOURCE_NAMESPACE), labels.get(SOURCE_WORKLOAD));
    }

    static String destinationName(List<String> labels) {
        return seriesName(labels.get(DESTINATION_NAMESPACE), labels.get(DESTINATION_WORKLOAD));
    }

    /** The series name of the client of an {@code istio_on_demand_dns_total} series, and its hostname. */
    static String dnsSourceName(List<String> labels) {
        return seriesName(labels.get(DNS_SOURCE_NAMESPACE), labels.get(DNS_SOURCE_WORKLOAD));
    }

    static String dnsHostname(List<String> labels) {
        return labels.get(DNS_HOSTNAME);
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
