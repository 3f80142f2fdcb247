package io.jmesh.ca.issuance;

import com.google.protobuf.Timestamp;
import io.jmesh.core.kafka.EventPublisher;
import io.jmesh.proto.ca.v1.CertificateAudit;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Records every certificate decision twice: one structured log line ({@code msg} = {@code certificate issued} or
 * {@code certificate refused}, with caller, identity, serial, notAfter, reason) and one {@code CertificateAudit}
 * event on the audit topic (key = requested identity). Publishing never blocks: events beyond the publisher's
 * queue are dropped and counted by {@link EventPublisher}.
 */
public final class IssuanceAudit {

    private static final Logger log = LoggerFactory.getLogger("io.jmesh.ca.audit");

    /** What one decision was about. */
    public record Decision(String callerNode, String callerIdentity, String requestedIdentity,
            long requestedValiditySeconds) {}

    private final EventPublisher publisher;
    private final String topic;
    private final String replica;
    private final String trustDomain;

    public IssuanceAudit(EventPublisher publisher, String topic, String replica, String trustDomain) {
        this.publisher = publisher;
        this.topic = topic;
        this.replica = replica;
        this.trustDomain = trustDomain;
    }

    public void issued(Decision d, String serialHex, Instant notAfter, Instant now) {
        log.atInfo().addKeyValue("outcome", "issued").addKeyValue("callerNode", d.callerNode())
                .addKeyValue("caller", d.callerIdentity()).addKeyValue("identity", d.requestedIdentity())
                .addKeyValue("serial", serialHex).addKeyValue("notAfter", notAfter.toString())
                .log("certificate issued");
        publish(base(d, now).setOutcome(CertificateAudit.Outcome.ISSUED).setSerialHex(serialHex)
                .setNotAfter(ts(notAfter)).build());
    }

    public void refused(Decision d, RefusalReason reason, String message, Instant now) {
        log.atInfo().addKeyValue("outcome", "refused").addKeyValue("callerNode", d.callerNode())
                .addKeyValue("caller", d.callerIdentity()).addKeyValue("identity", d.requestedIdentity())
                .addKeyValue("reason", reason.label()).addKeyValue("detail", message)
                .log("certificate refused");
        publish(base(d, now).setOutcome(CertificateAudit.Outcome.REFUSED).setReasonCode(reason.auditCode())
                .setReasonMessage(message).build());
    }

    private CertificateAudit.Builder base(Decision d, Instant now) {
        return CertificateAudit.newBuilder().setSchemaVersion(1).setEventId(UUID.randomUUID().toString())
                .setTime(ts(now)).setReplica(replica).setCallerNode(nz(d.callerNode()))
                .setCallerIdentity(nz(d.callerIdentity())).setRequestedIdentity(nz(d.requestedIdentity()))
                .setTrustDomain(trustDomain).setRequestedValiditySeconds(d.requestedValiditySeconds());
    }

    private void publish(CertificateAudit event) {
        publisher.publish(topic, event.getRequestedIdentity().getBytes(StandardCharsets.UTF_8), event.toByteArray());
    }

    private static String nz(String s) {
        return s == null ? "" : s;
    }

    static Timestamp ts(Instant i) {
        return Timestamp.newBuilder().setSeconds(i.getEpochSecond()).setNanos(i.getNano()).build();
    }
}
