package io.jmesh.ca.revocation;

import io.jmesh.ca.root.CaAuthority;
import io.jmesh.ca.root.TrustBundleState;
import io.jmesh.proto.ca.v1.Revocation;
import io.jmesh.proto.ca.v1.RevocationReason;
import java.math.BigInteger;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Revocation as one replica serves it: revokes (by serial or identity) into the shared {@link RevocationStore},
 * keeps a signed CRL current (re-signed on every change, at half of its validity, and after a change of signing
 * material), puts it into the trust bundle, and publishes every revocation it sees to the compacted revocation
 * topic (key = serial; several replicas publishing the same record is harmless on a compacted topic), and a
 * tombstone for it once its certificate has expired. A record Kafka did not store is offered again on the next
 * {@link #refresh}.
 *
 * <p>A revocation whose certificate expired more than {@code pruneAfterExpiry} ago is dropped from the store (with
 * Kafka: once this replica saw its tombstone stored, so the topic never keeps a revocation nobody tombstones), so
 * the store, and what each restart offers the topic again, does not grow with every revocation ever made. The CRL
 * left it out since the expiry: dropping it re-signs nothing.
 *
 * <p>Thread-safe; {@link #refresh} and the revoke methods block (file I/O, signing): call them off event loops.
 */
public final class Revocations {

    private static final Logger log = LoggerFactory.getLogger(Revocations.class);

    private final RevocationStore store;
    private final Supplier<CaAuthority> authority;
    private final TrustBundleState trustBundle;
    private final RevocationSender sender;
    private final Duration crlValidity;
    private final Duration pruneAfterExpiry;
    private final Clock clock;
    /** What the topic was offered per serial, in flight or stored; written by the producer's thread too. */
    private final Map<String, Offered> offered = new ConcurrentHashMap<>();
    // a first record would make the broker create the topic with its default cleanup policy (delete)
    private volatile boolean topicReady;
    private volatile CrlSigner.SignedCrl crl;
    private CaAuthority signedWith;
    private Map<String, Revocation> signedRevocations;
    /** The store's map {@link #offered} was last trimmed to. */
    private Map<String, Revocation> offeredFor;

    private enum Offered { REVOCATION, TOMBSTONE, TOMBSTONE_STORED }

    /**
     * @param sender where revocations go for other consumers; null without Kafka
     * @param pruneAfterExpiry how long after its certificate expired a revocation is dropped from the store
     */
    public Revocations(RevocationStore store, Supplier<CaAuthority> authority, TrustBundleState trustBundle,
            RevocationSender sender, Duration crlValidity, Duration pruneAfterExpiry, Clock clock) {
        this.store = store;
        this.authority = authority;
        this.trustBundle = trustBundle;
        this.sender = sender;
        this.crlValidity = crlValidity;
        this.pruneAfterExpiry = pruneAfterExpiry;
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
        Instant now = clock.instant();
        publishNew(all, now);
        all = prune(all, now);
        if (all != signedRevocations && sameCrlEntries(all, signedRevocations, now)) {
            signedRevocations = all; // only revocations the CRL leaves out came or went: nothing to re-sign
        }
        boolean changed = all != signedRevocations;
        CaAuthority ca = authority.get();
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

    /**
     * Offers the topic what it lacks: each unexpired revocation once, and a tombstone once its certificate has
     * expired (the same rule as the CRL's), so compaction removes the serial instead of keeping it for ever. A
     * record Kafka did not store is forgotten here and offered again at the next refresh; one that is in flight
     * or stored is not offered again (until a restart, which offers everything once more: harmless on a compacted
     * topic).
     */
    private void publishNew(Map<String, Revocation> all, Instant now) {
        if (sender == null || !topicReady) {
            return;
        }
        for (Revocation r : all.values()) {
            String serial = r.getSerialHex();
            Offered want = CrlSigner.expired(r, now) ? Offered.TOMBSTONE : Offered.REVOCATION;
            Offered had = offered.get(serial);
            // a tombstone is final: a clock stepped back does not bring the revocation back
            if (had == want || had == Offered.TOMBSTONE || had == Offered.TOMBSTONE_STORED) {
                continue;
            }
            offered.put(serial, want);
            boolean taken = sender.send(serial, want == Offered.TOMBSTONE ? null : r.toByteArray(), stored -> {
                if (!stored) {
                    offered.remove(serial, want); // offered again at the next refresh
                } else if (want == Offered.TOMBSTONE) {
                    offered.replace(serial, Offered.TOMBSTONE, Offered.TOMBSTONE_STORED); // may now be pruned
                }
            });
            if (!taken) {
                return; // Kafka is away: the rest waits for the next refresh instead of blocking each in turn
            }
        }
    }

    /**
     * Drops from the store what expired more than {@code pruneAfterExpiry} ago and, with Kafka, had its tombstone
     * stored by this replica; forgets what was offered for serials no longer in the store (dropped here, or by
     * another replica through the file).
     *
     * @return the store's revocations afterwards
     */
    private Map<String, Revocation> prune(Map<String, Revocation> all, Instant now) {
        Instant expiredBefore = now.minus(pruneAfterExpiry);
        boolean any = false;
        for (Revocation r : all.values()) {
            if (prunable(r, expiredBefore)) {
                any = true;
                break;
            }
        }
        if (any) {
            List<String> dropped = store.prune(r -> prunable(r, expiredBefore));
            log.atInfo().addKeyValue("pruned", dropped.size()).addKeyValue("pruneAfterExpiry", pruneAfterExpiry)
                    .log("revocations of certificates expired long ago dropped");
            all = store.all();
        }
        List<String> markersDropped = store.pruneMarkers();
        if (!markersDropped.isEmpty()) {
            log.atInfo().addKeyValue("identities", markersDropped.size())
                    .log("identity revocation markers dropped: every certificate signed before them has expired");
        }
        if (!offered.isEmpty() && all != offeredFor) {
            offered.keySet().retainAll(all.keySet());
            offeredFor = all;
        }
        return all;
    }

    private boolean prunable(Revocation r, Instant expiredBefore) {
        return CrlSigner.expired(r, expiredBefore)
                && (sender == null || offered.get(r.getSerialHex()) == Offered.TOMBSTONE_STORED);
    }

    /** Whether both hold the same unexpired revocations, the CRL's entries. */
    private static boolean sameCrlEntries(Map<String, Revocation> a, Map<String, Revocation> b, Instant now) {
        if (b == null) {
            return false;
        }
        return unexpired(a, now).equals(unexpired(b, now));
    }

    private static Set<String> unexpired(Map<String, Revocation> all, Instant now) {
        Set<String> out = new HashSet<>();
        for (Revocation r : all.values()) {
            if (!CrlSigner.expired(r, now)) {
                out.add(r.getSerialHex());
            }
        }
        return out;
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
