package io.jmesh.ztunnel.telemetry;

import com.google.protobuf.ByteString;
import com.google.protobuf.Duration;
import com.google.protobuf.Timestamp;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.proto.telemetry.v1.SecurityPolicy;
import io.jmesh.proto.telemetry.v1.ServiceInfo;
import io.jmesh.proto.telemetry.v1.SocketAddress;
import io.jmesh.proto.telemetry.v1.WorkloadInfo;
import io.jmesh.ztunnel.discovery.Workloads;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Instant;

/**
 * Builds the {@link ConnectionEvent}s of one ztunnel ({@code mesh.l4-events.v1}): what a connection's OPENED,
 * PROGRESS and CLOSED share (its id, peers, addresses, start) and what each adds, keyed by the source workload's
 * uid so that a workload's events keep their order in one partition.
 */
final class ConnectionEvents {

    private final String node;
    private final EventIds ids = new EventIds();

    /** @param node this ztunnel's node: the reporter instance, and the prefix of its connection ids */
    ConnectionEvents(String node) {
        this.node = node;
    }

    /**
     * One event of a connection.
     *
     * @param sequence the connection's number on this node
     * @param fromSource bytes from the source (totals on CLOSED, since the last PROGRESS on PROGRESS)
     * @param toSource bytes back to the source
     * @param reportedFromSource of the totals, what earlier PROGRESS events carried from the source (CLOSED)
     * @param reportedToSource likewise back to the source
     * @param flags the response flags, "-" for none
     * @param error null for none
     * @param openedDropped the connection's OPENED never reached Kafka (CLOSED only)
     */
    EncodedEvent encode(ConnectionEvent.Kind kind, ConnectionInfo info, long sequence, Instant start, long millis,
            long fromSource, long toSource, long reportedFromSource, long reportedToSource, String flags,
            String error, boolean openedDropped) {
        ConnectionEvent.Builder e = ConnectionEvent.newBuilder()
                .setSchemaVersion(1)
                .setEventId(ids.next())
                .setKind(kind)
                .setReporter(info.outbound() ? Reporter.SOURCE : Reporter.DESTINATION)
                .setConnectionId(node + "-" + sequence)
                .setStartTime(Timestamp.newBuilder().setSeconds(start.getEpochSecond()).setNanos(start.getNano()))
                .setDuration(Duration.newBuilder().setSeconds(millis / 1000)
                        .setNanos((int) (millis % 1000) * 1_000_000))
                .setBytesSent(toSource)
                .setBytesReceived(fromSource)
                .setReportedBytesSent(reportedToSource)
                .setReportedBytesReceived(reportedFromSource)
                .setSecurityPolicy(info.mtls() ? SecurityPolicy.MUTUAL_TLS : SecurityPolicy.NONE)
                .setResponseFlags("-".equals(flags) ? "" : flags)
                .setError(error == null ? "" : error)
                .setReporterInstance(node)
                .setOpenedDropped(kind == ConnectionEvent.Kind.CLOSED && openedDropped);
        if (info.sourceAddress() != null) {
            e.setSourceAddress(address(info.sourceAddress()));
        }
        if (info.destinationAddress() != null) {
            e.setDestinationAddress(address(info.destinationAddress()));
        }
        if (info.source() != null) {
            e.setSource(workload(info.source(), info.sourcePrincipal()));
        }
        if (info.destination() != null) {
            e.setDestination(workload(info.destination(), info.destinationPrincipal()));
        }
        if (info.service() != null) {
            e.setDestinationService(ServiceInfo.newBuilder().setHostname(info.service().getHostname())
                    .setName(info.service().getName()).setNamespace(info.service().getNamespace()));
        }
        String key = info.source() == null ? "" : info.source().getUid();
        return new EncodedEvent(key.getBytes(StandardCharsets.UTF_8), e.build().toByteArray());
    }

    private static SocketAddress address(InetSocketAddress a) {
        return SocketAddress.newBuilder().setIp(ByteString.copyFrom(a.getAddress().getAddress()))
                .setPort(a.getPort()).build();
    }

    private static WorkloadInfo workload(Workload w, SpiffeId principal) {
        WorkloadInfo.Builder b = WorkloadInfo.newBuilder().setUid(w.getUid()).setName(w.getName())
                .setWorkloadName(w.getWorkloadName()).setNamespace(w.getNamespace())
                // app as the source_app label: the workload name for a source known only from its baggage
                .setApp(Workloads.isDerived(w) ? w.getWorkloadName()
                        : w.getCanonicalName())
                .setVersion(w.getCanonicalRevision())
                .setCanonicalService(w.getCanonicalName()).setCanonicalRevision(w.getCanonicalRevision())
                .setCluster(w.getClusterId()).setNode(w.getNode());
        if (principal != null) {
            b.setPrincipal(principal.uri());
        }
        if (w.hasLocality()) {
            b.setRegion(w.getLocality().getRegion()).setZone(w.getLocality().getZone());
        }
        return b.build();
    }
}
