package io.jmesh.telemetry;

import com.google.protobuf.Duration;
import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.proto.telemetry.v1.RequestEvent;
import io.jmesh.proto.telemetry.v1.SecurityPolicy;
import io.jmesh.proto.telemetry.v1.ServiceInfo;
import io.jmesh.proto.telemetry.v1.WorkloadInfo;
import java.util.UUID;

/** Realistic events for tests: bookinfo-like workloads in namespace {@code default}. */
public final class Events {

    private Events() {}

    public static WorkloadInfo workload(String name, String app, String version) {
        return WorkloadInfo.newBuilder().setUid("Kubernetes//Pod/default/" + name + "-abc12")
                .setName(name + "-abc12").setWorkloadName(name).setNamespace("default")
                .setPrincipal("spiffe://cluster.local/ns/default/sa/bookinfo-" + app)
                .setApp(app).setVersion(version).setCluster("Kubernetes").setNode("node-a").build();
    }

    public static ServiceInfo service(String name) {
        return ServiceInfo.newBuilder().setHostname(name + ".default.svc.cluster.local").setName(name)
                .setNamespace("default").build();
    }

    public static final WorkloadInfo PRODUCTPAGE = workload("productpage-v1", "productpage", "v1");
    public static final WorkloadInfo REVIEWS = workload("reviews-v2", "reviews", "v2");
    public static final WorkloadInfo RATINGS = workload("ratings-v1", "ratings", "v1");
    /** A pod of productpage under another service account: the per-pod principals that multiply series. */
    public static final WorkloadInfo PRODUCTPAGE_B = PRODUCTPAGE.toBuilder()
            .setPrincipal("spiffe://cluster.local/ns/default/sa/bookinfo-productpage-b").build();

    public static ConnectionEvent.Builder connection(ConnectionEvent.Kind kind, Reporter reporter, WorkloadInfo src,
            WorkloadInfo dst, String service) {
        ConnectionEvent.Builder b = ConnectionEvent.newBuilder().setSchemaVersion(1)
                .setEventId(UUID.randomUUID().toString()).setKind(kind).setReporter(reporter)
                .setConnectionId(UUID.randomUUID().toString()).setSource(src).setDestination(dst)
                .setSecurityPolicy(SecurityPolicy.MUTUAL_TLS).setReporterInstance("node-a");
        if (service != null) {
            b.setDestinationService(service(service));
        }
        return b;
    }

    public static ConnectionEvent closed(Reporter reporter, WorkloadInfo src, WorkloadInfo dst, String service,
            long sent, long received) {
        return connection(ConnectionEvent.Kind.CLOSED, reporter, src, dst, service).setBytesSent(sent)
                .setBytesReceived(received).setDuration(Duration.newBuilder().setSeconds(1)).build();
    }

    /**
     * A PROGRESS of connection {@code connectionId}: {@code sent} and {@code received} are the bytes since its last
     * PROGRESS, {@code reportedSent}/{@code reportedReceived} what its earlier ones carried.
     */
    public static ConnectionEvent progress(Reporter reporter, WorkloadInfo src, WorkloadInfo dst, String service,
            String connectionId, long sent, long received, long reportedSent, long reportedReceived) {
        return connection(ConnectionEvent.Kind.PROGRESS, reporter, src, dst, service).setConnectionId(connectionId)
                .setBytesSent(sent).setBytesReceived(received).setReportedBytesSent(reportedSent)
                .setReportedBytesReceived(reportedReceived).setDuration(Duration.newBuilder().setSeconds(60)).build();
    }

    /** The CLOSED of a connection that sent PROGRESS: totals, and the part of them its PROGRESS events carried. */
    public static ConnectionEvent closedAfterProgress(Reporter reporter, WorkloadInfo src, WorkloadInfo dst,
            String service, String connectionId, long sent, long received, long reportedSent, long reportedReceived) {
        return closed(reporter, src, dst, service, sent, received).toBuilder().setConnectionId(connectionId)
                .setReportedBytesSent(reportedSent).setReportedBytesReceived(reportedReceived).build();
    }

    public static ConnectionEvent opened(Reporter reporter, WorkloadInfo src, WorkloadInfo dst, String service) {
        return connection(ConnectionEvent.Kind.OPENED, reporter, src, dst, service).build();
    }

    public static RequestEvent request(Reporter reporter, WorkloadInfo src, WorkloadInfo dst, String service,
            int code, long durationMillis) {
        return RequestEvent.newBuilder().setSchemaVersion(1).setEventId(UUID.randomUUID().toString())
                .setReporter(reporter).setSource(src).setDestination(dst).setDestinationService(service(service))
                .setMethod("GET").setPath("/reviews/0").setAuthority(service + ":9080").setResponseCode(code)
                .setDuration(Duration.newBuilder().setNanos((int) (durationMillis * 1_000_000)))
                .setRequestBytes(100).setResponseBytes(2000).setProtocol(RequestEvent.Protocol.HTTP)
                .setSecurityPolicy(SecurityPolicy.MUTUAL_TLS).setReporterInstance("waypoint-0").build();
    }
}
