package io.jmesh.ca.revocation;

import io.jmesh.ca.root.CaAuthority;
import io.jmesh.ca.root.TrustBundleState;
import io.jmesh.core.kafka.EventPublisher;
import io.jmesh.proto.ca.v1.Revocation;
import io.jmesh.proto.ca.v1.RevocationReason;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Revocation as one replica serves it: revokes (by serial or identity) into the shared {@link RevocationStore},
 * keeps a signed CRL current (re-signed on every change, at half of its validity, and after a change of signing
 * material), puts it into the trust bundle, and publishes every revocation it sees to the compacted revocation
 * topic (key = serial; several replicas publishing the same record is harmless on a compacted topic). A record the
 * publisher's queue refused (full: an audit burst, a slow broker) is offered again on the next {@link #refresh}.
 *
 * <p>Thread-safe; {@link #refresh} and the revoke methods block (file I/O, signing): call them off event loops.
 */
public final class Revocations {

    private static final Logger log = LoggerFactory.getLogger(Revocations.class);

    private final RevocationStore store;
    private final Supplier<CaAuthority> authority;
    private final TrustBundleState trustBundle;
    private final EventPublisher publisher;
    private final String topic;
    private final Duration crlValidity;
    private final Clock clock;
    private final Set<String> published = new HashSet<>();
    // a first record would make the broker create the topic with its default cleanup policy (delete)
    private volatile boolean topicReady;
    private volatile CrlSigner.SignedCrl crl;
    private CaAuthority signedWith;
    private Map<String, Revocation> signedRevocations;

    /** @param publisher where revocations go for other consumers; null without Kafka */
    public Revocations(RevocationStore store, Supplier<CaAuthority> authority, TrustBundleState trustBundle,
            EventPublisher publisher, String topic, Duration crlValidity, Clock clock) {
        this.store = store;
        this.authority = authority;
        this.trustBundle = trustBundle;
        this.publisher = publisher;
        this.topic = topic;
        this.crlValidity = crlValidity;
        this.clock = clock;
    }

    /**
     * Re-signs the CRL if revocations or signing material changed or it reached half-life, and publishes the
     * revocations not published yet.
     */
    public synchronized void refresh() {
        store.reloadIfChanged();
        // the store swaps its map on every change, by this replica or (through the file) by anyone else
        Map<String, Revocation> all = store.all();
        publishNew(all);
        boolean changed = all != signedRevocations;
        CaAuthority ca = authority.get();
        Instant now = clock.instant();
        CrlSigner.SignedCrl current = crl;
        boolean stale = current == null || !ca.sameMaterial(signedWith)
                || !now.isBefore(current.thisUpdate().plus(crlValidity.dividedBy(2)));
        if (!changed && !stale) {
            return;
        }
        BigInteger number = BigInteger.valueOf(Math.max(current == null ? 1 : current.number().longValue() + 1,
                clock.millis()));
        CrlSigner.SignedCrl next = CrlSigner.sign(ca, all.values(), number, crlValidity, now);
        crl = next;
        signedWith = ca;
        signedRevocations = all;
        trustBundle.crl(next.der(), next.nextUpdate(), ca.crlIssuerChainPems());
        if (changed) {
            log.atInfo().addKeyValue("revoked", all.size()).addKeyValue("crlNumber", number.toString())
                    .log("crl re-signed");
        }
    }

    private void publishNew(Map<String, Revocation> all) {
        if (publisher == null || !topicReady || published.size() == all.size()) {
            return; // revocations are only added, never removed: same count, nothing new
        }
        for (Revocation r : all.values()) {
            // only what the queue took counts as published: a dropped record is offered again next time
            if (!published.contains(r.getSerialHex()) && publisher.publish(topic,
                    r.getSerialHex().getBytes(StandardCharsets.UTF_8), r.toByteArray())) {
                published.add(r.getSerialHex());
            }
        }
    }

    /** The compacted topic exists: revocations are published from the next {@link #refresh} on. */
    public void topicReady() {
        topicReady = true;
    }

    /** Revokes one serial; returns the new revocations (empty when it was revoked already). */
    public List<Revocation> revokeSerial(String serial, RevocationReason reason, String comment, String by) {
        List<Revocation> added = store.revokeSerial(serial, reason, comment, by);
        refresh();
        return added;
    }

    /** Revokes every unexpired certificate of {@code identity}. */
    public List<Revocation> revokeIdentity(String identity, RevocationReason reason, String comment, String by) {
        List<Revocation> added = store.revokeIdentity(identity, reason, comment, by);
        refresh();
        return added;
    }

    /**
     * Called after a certificate was journaled: revokes it when its identity was revoked while it was being
     * signed (see {@link RevocationStore}), re-signing the CRL.
     *
     * @return whether it was revoked
     */
    public boolean revokeIfIdentityRevokedSince(IssuanceJournal.Entry issued, Instant signedAt) {
        Revocation r = store.revokeIfIdentityRevokedSince(issued, signedAt);
        if (r == null) {
            return false;
        }
        log.atWarn().addKeyValue("serial", issued.serialHex()).addKeyValue("identity", issued.identity())
                .log("certificate signed while its identity was being revoked: revoked too");
        refresh();
        return true;
    }

    /** The current CRL (null before the first {@link #refresh}). */
    public CrlSigner.SignedCrl crl() {
        return crl;
    }

    public RevocationStore store() {
        return store;
    }
}
