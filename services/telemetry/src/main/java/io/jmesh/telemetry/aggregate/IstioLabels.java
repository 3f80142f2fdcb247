package io.jmesh.telemetry.aggregate;

import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.proto.telemetry.v1.RequestEvent;
import io.jmesh.proto.telemetry.v1.SecurityPolicy;
import io.jmesh.proto.telemetry.v1.ServiceInfo;
import io.jmesh.proto.telemetry.v1.WorkloadInfo;
import java.util.List;

/**
 * Istio's traffic label sets and how an event fills them. Missing values render as {@code unknown}, no response
 * flags as {@code -}, as Istio does.
 */
public final class IstioLabels {

    /** The value of a label the event did not fill. */
    public static final String UNKNOWN = "unknown";

    /** Labels of the four {@code istio_tcp_*} metrics, in exposition order. */
    public static final List<String> TCP = List.of("reporter",
            "source_workload", "source_canonical_service", "source_canonical_revision", "source_workload_namespace",
            "source_principal", "source_app", "source_version", "source_cluster",
            "destination_service", "destination_service_namespace", "destination_service_name",
            "destination_workload", "destination_canonical_service", "destination_canonical_revision",
            "destination_workload_namespace", "destination_principal", "destination_app", "destination_version",
            "destination_cluster", "request_protocol", "response_flags", "connection_security_policy");

    /** Labels of {@code istio_requests_total} and the request histograms: the TCP set plus the response's. */
    public static final List<String> REQUEST = concat(TCP, List.of("response_code", "grpc_response_status"));

    private IstioLabels() {}

    /** The label values of a connection event, in {@link #TCP} order. */
    public static SeriesKey of(ConnectionEvent e) {
        String[] v = new String[TCP.size()];
        int i = fill(v, e.getReporter(), e.getSource(), e.getDestination(), e.getDestinationService());
        v[i++] = "tcp";
        v[i++] = flags(e.getResponseFlags());
        v[i] = security(e.getSecurityPolicy());
        return new SeriesKey(v);
    }

    /** The label values of a request event, in {@link #REQUEST} order. */
    public static SeriesKey of(RequestEvent e) {
        String[] v = new String[REQUEST.size()];
        int i = fill(v, e.getReporter(), e.getSource(), e.getDestination(), e.getDestinationService());
        v[i++] = e.getProtocol() == RequestEvent.Protocol.GRPC ? "grpc" : "http";
        v[i++] = flags(e.getResponseFlags());
        v[i++] = security(e.getSecurityPolicy());
        v[i++] = Integer.toString(e.getResponseCode());
        v[i] = e.hasGrpcStatus() ? Integer.toString(e.getGrpcStatus()) : "";
        return new SeriesKey(v);
    }

    private static final int FLAGS = TCP.indexOf("response_flags");

    /**
     * A TCP series' key with {@code response_flags="-"}: the series of the connection as it was opened. Itself when
     * the label is removed ({@link RemovedLabels}): opens and closes then share one series.
     */
    public static SeriesKey withoutFlags(SeriesKey tcp) {
        String flags = tcp.value(FLAGS);
        if ("-".equals(flags) || RemovedLabels.isRemoved(flags)) {
            return tcp;
        }
        String[] v = tcp.values();
        v[FLAGS] = "-";
        return new SeriesKey(v);
    }

    /** Istio's {@code reporter} label value. */
    public static String reporter(Reporter r) {
        return switch (r) {
            case SOURCE -> "source";
            case DESTINATION -> "destination";
            case WAYPOINT -> "waypoint";
            default -> UNKNOWN;
        };
    }

    /**
     * Istio's {@code connection_security_policy} label value: {@code mutual_tls}, else {@code unknown}, plaintext
     * included, as Istio's ztunnel (and jmesh's) label their own series; a {@code none} here split every plaintext
     * series from ztunnel's.
     */
    public static String security(SecurityPolicy p) {
        return p == SecurityPolicy.MUTUAL_TLS ? "mutual_tls" : UNKNOWN;
    }

    private static int fill(String[] v, Reporter reporter, WorkloadInfo src, WorkloadInfo dst, ServiceInfo svc) {
        int i = 0;
        v[i++] = reporter(reporter);
        v[i++] = or(workload(src));
        v[i++] = or(src.getCanonicalService().isEmpty() ? src.getApp() : src.getCanonicalService());
        v[i++] = or(src.getCanonicalRevision().isEmpty() ? src.getVersion() : src.getCanonicalRevision());
        v[i++] = or(src.getNamespace());
        v[i++] = or(src.getPrincipal());
        v[i++] = or(src.getApp());
        v[i++] = or(src.getVersion());
        v[i++] = or(src.getCluster());
        v[i++] = or(svc.getHostname());
        v[i++] = or(svc.getNamespace());
        v[i++] = or(svc.getName());
        v[i++] = or(workload(dst));
        v[i++] = or(dst.getCanonicalService().isEmpty() ? dst.getApp() : dst.getCanonicalService());
        v[i++] = or(dst.getCanonicalRevision().isEmpty() ? dst.getVersion() : dst.getCanonicalRevision());
        v[i++] = or(dst.getNamespace());
        v[i++] = or(dst.getPrincipal());
        v[i++] = or(dst.getApp());
        v[i++] = or(dst.getVersion());
        v[i++] = or(dst.getCluster());
        return i;
    }

    /** As ztunnel labels its own series: the owning workload's name, else the instance (pod) name. */
    private static String workload(WorkloadInfo w) {
        return w.getWorkloadName().isEmpty() ? w.getName() : w.getWorkloadName();
    }

    private static String or(String s) {
        return s.isEmpty() ? UNKNOWN : s;
    }

    private static String flags(String f) {
        return f.isEmpty() ? "-" : f;
    }

    private static List<String> concat(List<String> a, List<String> b) {
        String[] all = new String[a.size() + b.size()];
        for (int i = 0; i < a.size(); i++) {
            all[i] = a.get(i);
        }
        for (int i = 0; i < b.size(); i++) {
            all[a.size() + i] = b.get(i);
        }
        return List.of(all);
    }
}
