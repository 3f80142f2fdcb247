package io.jmesh.ca.revocation;

import com.google.protobuf.Timestamp;
import io.jmesh.ca.root.StateDirectory;
import io.jmesh.ca.signing.Crypto;
import io.jmesh.proto.ca.v1.Revocation;
import io.jmesh.proto.ca.v1.RevocationReason;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * The revoked certificates, kept in {@code revocations.pb} of the state directory (length-delimited
 * {@code jmesh.ca.v1.Revocation}), shared by every replica and the CLI. Revoking by identity finds the
 * identity's unexpired certificates in the {@link IssuanceJournal}s.
 *
 * <p>A certificate another replica signed just before an identity revocation may reach its journal just after
 * the scan. So an identity revocation first records a marker ({@code identity-revocations.pb}: identity and
 * instant, no serial), then scans; and a replica, after journaling a certificate, checks the markers
 * ({@link #revokeIfIdentityRevokedSince}). Whichever comes second sees the other's write, so the certificate is
 * revoked either way.
 *
 * <p>Every revocation ends. A serial in no journal (its expiry unknown) is given the latest expiry a certificate
 * issued before the revocation can have: the revocation time plus the CA's maximum certificate validity; it then
 * leaves the CRL, is tombstoned and pruned like any other. A marker goes once that much time has passed since it
 * was recorded: a certificate signed before it has expired by then ({@link #pruneMarkers}). A store without a
 * maximum (the CLI run without a config) leaves an unknown expiry unset; a replica's store bounds it when it reads
 * the file. (A maximum lowered since a certificate was issued bounds it too early: lower it only once the
 * certificates issued under the higher one have expired.)
 *
 * <p>Thread-safe; blocking (file I/O under the state-directory lock).
 */
public final class RevocationStore {

    private final StateDirectory dir;
    private final Clock clock;
    private final Duration maxCertificateValidity;
    private volatile Map<String, Revocation> bySerial = Map.of();
    private volatile String stamp = "";
    private volatile Map<String, Revocation> markers = Map.of();
    private volatile String markerStamp = "";

    /** A store that leaves an unknown expiry unset (the CLI without a config). */
    public RevocationStore(StateDirectory dir, Clock clock) {
        this(dir, clock, null);
    }

    /**
     * @param maxCertificateValidity the longest validity the CA issues, which bounds an unknown expiry; null: none
     */
    public RevocationStore(StateDirectory dir, Clock clock, Duration maxCertificateValidity) {
        this.dir = dir;
        this.clock = clock;
        this.maxCertificateValidity = maxCertificateValidity;
        reloadIfChanged();
    }

    /** Re-reads the file when it changed; returns whether it did. */
    public boolean reloadIfChanged() {
        String now = dir.stamp(StateDirectory.REVOCATIONS);
        if (now.equals(stamp)) {
            return false;
        }
        bySerial = java.util.Collections.unmodifiableMap(read());
        stamp = now;
        return true;
    }

    /** Every revocation, by serial (insertion order). */
    public Map<String, Revocation> all() {
        return bySerial;
    }

    /**
     * Revokes one certificate by serial. The serial need not be in a journal (a certificate of a replica that
     * lost its journal can still be revoked); its identity and expiry are filled in when known.
     *
     * @return the new revocation, or none when it was revoked already
     */
    public List<Revocation> revokeSerial(String serialText, RevocationReason reason, String comment, String by) {
        String serial = Crypto.normalizeSerial(serialText);
        IssuanceJournal.Entry known = IssuanceJournal.findSerial(dir.resolve(StateDirectory.ISSUED_DIR), serial);
        return add(List.of(known != null ? known : new IssuanceJournal.Entry(serial, null, "")), reason, comment, by);
    }

    /**
     * Revokes every unexpired certificate issued for {@code identity}.
     *
     * @return the new revocations (already revoked ones are not repeated)
     */
    public List<Revocation> revokeIdentity(String identity, RevocationReason reason, String comment, String by) {
        Instant now = clock.instant();
        dir.locked(() -> {
            Map<String, Revocation> markers = readMarkers();
            markers.put(identity, Revocation.newBuilder().setSchemaVersion(1).setIdentity(identity)
                    .setRevokedAt(ts(now)).setReason(reason).setRevokedBy(by == null ? "" : by)
                    .setComment(comment == null ? "" : comment).build());
            writeAll(StateDirectory.IDENTITY_REVOCATIONS, markers.values());
            return null;
        });
        return add(IssuanceJournal.findAll(dir.resolve(StateDirectory.ISSUED_DIR), identity, now),
                reason, comment, by);
    }

    /**
     * After a certificate was journaled: revokes it when its identity was revoked at or after {@code signedAt}
     * (the revocation's scan may have missed it).
     *
     * @return the revocation, or null when the identity has no revocation that late
     */
    public Revocation revokeIfIdentityRevokedSince(IssuanceJournal.Entry issued, Instant signedAt) {
        if (!dir.stamp(StateDirectory.IDENTITY_REVOCATIONS).equals(markerStamp)) {
            markers = Map.copyOf(readMarkers());
            markerStamp = dir.stamp(StateDirectory.IDENTITY_REVOCATIONS);
        }
        Revocation marker = markers.get(issued.identity());
        if (marker == null || instant(marker.getRevokedAt()).isBefore(signedAt)) {
            return null;
        }
        add(List.of(issued), marker.getReason(), marker.getComment(), marker.getRevokedBy());
        return bySerial.get(issued.serialHex());
    }

    /**
     * Drops the revocations {@code prunable} accepts, judged on the file as it is under the lock (not on this
     * replica's copy), so a revocation another replica or the CLI wrote since this one last read is kept.
     *
     * @return the serials dropped
     */
    public List<String> prune(Predicate<Revocation> prunable) {
        return dir.locked(() -> {
            Map<String, Revocation> current = read();
            List<String> dropped = new ArrayList<>();
            current.values().removeIf(r -> prunable.test(r) && dropped.add(r.getSerialHex()));
            if (!dropped.isEmpty()) {
                write(current);
            }
            return dropped;
        });
    }

    /**
     * Drops the identity revocation markers recorded more than the maximum certificate validity ago, judged on the
     * file under the lock; checked on this replica's copy first, so nothing is written while none is due.
     *
     * @return the identities whose markers were dropped
     */
    public List<String> pruneMarkers() {
        if (maxCertificateValidity == null) {
            return List.of();
        }
        Instant recordedBefore = clock.instant().minus(maxCertificateValidity);
        String now = dir.stamp(StateDirectory.IDENTITY_REVOCATIONS);
        if (!now.equals(markerStamp)) {
            markers = Map.copyOf(readMarkers());
            markerStamp = now;
        }
        if (markers.values().stream().noneMatch(m -> instant(m.getRevokedAt()).isBefore(recordedBefore))) {
            return List.of();
        }
        return dir.locked(() -> {
            Map<String, Revocation> current = readMarkers();
            List<String> dropped = new ArrayList<>();
            current.values().removeIf(m -> instant(m.getRevokedAt()).isBefore(recordedBefore)
                    && dropped.add(m.getIdentity()));
            if (!dropped.isEmpty()) {
                writeAll(StateDirectory.IDENTITY_REVOCATIONS, current.values());
                markers = Map.copyOf(current);
                markerStamp = dir.stamp(StateDirectory.IDENTITY_REVOCATIONS);
            }
            return dropped;
        });
    }

    private Map<String, Revocation> readMarkers() {
        Map<String, Revocation> out = new LinkedHashMap<>();
        for (Revocation r : readAll(StateDirectory.IDENTITY_REVOCATIONS)) {
            out.put(r.getIdentity(), r);
        }
        return out;
    }

    private static Instant instant(Timestamp t) {
        return Instant.ofEpochSecond(t.getSeconds(), t.getNanos());
    }

    private List<Revocation> add(List<IssuanceJournal.Entry> entries, RevocationReason reason, String comment,
            String by) {
        return dir.locked(() -> {
            Map<String, Revocation> current = read();
            Instant now = clock.instant();
            List<Revocation> added = new ArrayList<>();
            for (IssuanceJournal.Entry e : entries) {
                if (current.containsKey(e.serialHex())) {
                    continue;
                }
                Revocation.Builder r = Revocation.newBuilder().setSchemaVersion(1).setSerialHex(e.serialHex())
                        .setIdentity(e.identity()).setRevokedAt(ts(now)).setReason(reason)
                        .setRevokedBy(by == null ? "" : by).setComment(comment == null ? "" : comment);
                if (e.notAfter() != null) {
                    r.setNotAfter(ts(e.notAfter()));
                }
                Revocation rev = bounded(r.build());
                current.put(e.serialHex(), rev);
                added.add(rev);
            }
            if (!added.isEmpty()) {
                write(current);
            }
            return added;
        });
    }

    private Map<String, Revocation> read() {
        Map<String, Revocation> out = new LinkedHashMap<>();
        for (Revocation r : readAll(StateDirectory.REVOCATIONS)) {
            out.put(r.getSerialHex(), bounded(r));
        }
        return out;
    }

    /** {@code r} with an unknown expiry set to the latest a certificate issued before it can have. */
    private Revocation bounded(Revocation r) {
        if (r.hasNotAfter() || maxCertificateValidity == null || !r.hasRevokedAt()) {
            return r;
        }
        return r.toBuilder().setNotAfter(ts(instant(r.getRevokedAt()).plus(maxCertificateValidity))).build();
    }

    private List<Revocation> readAll(String file) {
        byte[] bytes = dir.readBytes(file);
        List<Revocation> out = new ArrayList<>();
        if (bytes == null) {
            return out;
        }
        try (ByteArrayInputStream in = new ByteArrayInputStream(bytes)) {
            Revocation r;
            while ((r = Revocation.parseDelimitedFrom(in)) != null) {
                out.add(r);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(dir.resolve(file) + ": unreadable: " + e.getMessage(), e);
        }
        return out;
    }

    private void write(Map<String, Revocation> all) {
        writeAll(StateDirectory.REVOCATIONS, all.values());
        bySerial = Map.copyOf(all);
        stamp = dir.stamp(StateDirectory.REVOCATIONS);
    }

    private void writeAll(String file, java.util.Collection<Revocation> all) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            for (Revocation r : all) {
                r.writeDelimitedTo(out);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        dir.write(file, out.toByteArray());
    }

    static Timestamp ts(Instant i) {
        return Timestamp.newBuilder().setSeconds(i.getEpochSecond()).setNanos(i.getNano()).build();
    }
}
