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
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The revoked certificates, kept in {@code revocations.pb} of the state directory (length-delimited
 * {@code jmesh.ca.v1.Revocation}), shared by every replica and the CLI. Revoking by identity finds the
 * identity's unexpired certificates in the {@link IssuanceJournal}s.
 *
 * <p>Thread-safe; blocking (file I/O under the state-directory lock).
 */
public final class RevocationStore {

    private final StateDirectory dir;
    private final Clock clock;
    private volatile Map<String, Revocation> bySerial = Map.of();
    private volatile String stamp = "";

    public RevocationStore(StateDirectory dir, Clock clock) {
        this.dir = dir;
        this.clock = clock;
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
        return add(IssuanceJournal.findAll(dir.resolve(StateDirectory.ISSUED_DIR), identity, clock.instant()),
                reason, comment, by);
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
                Revocation rev = r.build();
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
        byte[] bytes = dir.readBytes(StateDirectory.REVOCATIONS);
        Map<String, Revocation> out = new LinkedHashMap<>();
        if (bytes == null) {
            return out;
        }
        try (ByteArrayInputStream in = new ByteArrayInputStream(bytes)) {
            Revocation r;
            while ((r = Revocation.parseDelimitedFrom(in)) != null) {
                out.put(r.getSerialHex(), r);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(dir.resolve(StateDirectory.REVOCATIONS) + ": unreadable: "
                    + e.getMessage(), e);
        }
        return out;
    }

    private void write(Map<String, Revocation> all) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            for (Revocation r : all.values()) {
                r.writeDelimitedTo(out);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        dir.write(StateDirectory.REVOCATIONS, out.toByteArray());
        bySerial = Map.copyOf(all);
        stamp = dir.stamp(StateDirectory.REVOCATIONS);
    }

    static Timestamp ts(Instant i) {
        return Timestamp.newBuilder().setSeconds(i.getEpochSecond()).setNanos(i.getNano()).build();
    }
}
