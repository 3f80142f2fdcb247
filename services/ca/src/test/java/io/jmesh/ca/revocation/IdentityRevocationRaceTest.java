package io.jmesh.ca.revocation;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.ca.root.StateDirectory;
import io.jmesh.proto.ca.v1.Revocation;
import io.jmesh.proto.ca.v1.RevocationReason;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two replicas on one state directory: replica B signs a certificate, replica A revokes its identity before B's
 * journal line is written (A's scan cannot see it), then B journals it. B's check after journaling finds A's
 * marker and revokes the certificate too; a certificate signed after the revocation is left alone.
 */
class IdentityRevocationRaceTest {

    private static final String IDENTITY = "spiffe://cluster.local/ns/default/sa/sleep";

    @TempDir
    Path dir;

    @Test
    void aCertificateJournaledAfterTheScanIsStillRevoked() {
        Instant t0 = Instant.parse("2026-12-02T10:00:00Z");
        StateDirectory state = StateDirectory.open(dir);
        RevocationStore replicaA = new RevocationStore(state, Clock.fixed(t0.plusSeconds(1), ZoneOffset.UTC));
        RevocationStore replicaB = new RevocationStore(state, Clock.fixed(t0.plusSeconds(1), ZoneOffset.UTC));
        try (IssuanceJournal journalB = IssuanceJournal.open(state, "b", t0)) {
            // B signs at t0 ...
            IssuanceJournal.Entry inFlight = new IssuanceJournal.Entry("0a0b", t0.plus(Duration.ofHours(24)), IDENTITY);
            // ... A revokes the identity at t0+1s: B's certificate is not journaled yet, the scan misses it
            assertThat(replicaA.revokeIdentity(IDENTITY, RevocationReason.KEY_COMPROMISE, "leaked", "admin"))
                    .isEmpty();
            // ... B journals it and checks: revoked, with the operator's reason
            journalB.append(inFlight);
            Revocation r = replicaB.revokeIfIdentityRevokedSince(inFlight, t0);
            assertThat(r).isNotNull();
            assertThat(r.getSerialHex()).isEqualTo("0a0b");
            assertThat(r.getReason()).isEqualTo(RevocationReason.KEY_COMPROMISE);
            assertThat(r.getRevokedBy()).isEqualTo("admin");
            replicaA.reloadIfChanged();
            assertThat(replicaA.all()).containsKey("0a0b");

            // a certificate signed after the revocation (the workload's replacement) stays valid
            IssuanceJournal.Entry replacement = new IssuanceJournal.Entry("0c0d", t0.plus(Duration.ofHours(25)),
                    IDENTITY);
            journalB.append(replacement);
            assertThat(replicaB.revokeIfIdentityRevokedSince(replacement, t0.plusSeconds(2))).isNull();
            // and so does another identity's certificate
            IssuanceJournal.Entry other = new IssuanceJournal.Entry("0e0f", t0.plus(Duration.ofHours(24)),
                    "spiffe://cluster.local/ns/default/sa/productpage");
            journalB.append(other);
            assertThat(replicaB.revokeIfIdentityRevokedSince(other, t0)).isNull();
            assertThat(replicaB.all()).containsOnlyKeys("0a0b");
        }
    }

    @Test
    void whenTheScanSeesTheCertificateTheCheckAgreesWithoutARepeat() {
        Instant t0 = Instant.parse("2026-12-02T10:00:00Z");
        StateDirectory state = StateDirectory.open(dir);
        RevocationStore store = new RevocationStore(state, Clock.fixed(t0.plusSeconds(1), ZoneOffset.UTC));
        try (IssuanceJournal journal = IssuanceJournal.open(state, "a", t0)) {
            IssuanceJournal.Entry issued = new IssuanceJournal.Entry("1a1b", t0.plus(Duration.ofHours(24)), IDENTITY);
            journal.append(issued);
            assertThat(store.revokeIdentity(IDENTITY, RevocationReason.SUPERSEDED, "", "admin")).hasSize(1);
            assertThat(store.revokeIfIdentityRevokedSince(issued, t0)).isNotNull();
            assertThat(store.all()).hasSize(1);
        }
    }
}
