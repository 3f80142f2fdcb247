package io.jmesh.ca.revocation;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.ca.root.CaAuthority;
import io.jmesh.ca.root.RootGenerator;
import io.jmesh.ca.root.StateDirectory;
import io.jmesh.ca.root.TrustBundleState;
import io.jmesh.proto.ca.v1.RevocationReason;
import io.jmesh.testing.MutableClock;
import java.math.BigInteger;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A revocation whose certificate expired more than {@code revocation.pruneAfterExpiry} ago leaves
 * {@code revocations.pb}: the CRL left it out since the expiry, so the file, the memory and each restart's offers to
 * the topic no longer grow with every revocation ever made.
 */
class RevocationPruneTest {

    static final String IDENTITY = "spiffe://cluster.local/ns/default/sa/sleep";
    static final Instant T0 = Instant.parse("2026-12-02T10:00:00Z");
    static final Duration CRL_VALIDITY = Duration.ofHours(1);
    static final Duration PRUNE_AFTER_EXPIRY = Duration.ofDays(7);

    @TempDir
    Path dir;

    final MutableClock clock = new MutableClock(T0);

    @Test
    void aRevocationWhoseCertificateExpiredLongAgoIsPrunedAndTheOthersKept() {
        StateDirectory state = StateDirectory.open(dir);
        try (IssuanceJournal journal = IssuanceJournal.open(state, "a", T0)) {
            journal.append(new IssuanceJournal.Entry("1a", T0.plus(Duration.ofHours(1)), IDENTITY));
            journal.append(new IssuanceJournal.Entry("1b", T0.plus(Duration.ofDays(90)), IDENTITY));
        }
        Revocations revocations = revocations(state);
        for (String serial : List.of("1a", "1b", "1c")) { // 1c is in no journal: its expiry is unknown
            revocations.revokeSerial(serial, RevocationReason.KEY_COMPROMISE, "", "admin");
        }
        assertThat(revocations.store().all()).containsOnlyKeys("1a", "1b", "1c");

        Instant expiry = T0.plus(Duration.ofHours(1));
        clock.set(expiry.plus(PRUNE_AFTER_EXPIRY).minusSeconds(60));
        revocations.refresh();
        assertThat(revocations.store().all()).as("expired, not long enough ago").containsKey("1a");
        BigInteger crlNumber = revocations.crl().number();

        clock.advance(Duration.ofSeconds(120));
        revocations.refresh();
        assertThat(revocations.store().all()).as("1a expired pruneAfterExpiry ago").containsOnlyKeys("1b", "1c");
        assertThat(new RevocationStore(state, clock).all()).as("revocations.pb as another replica reads it")
                .containsOnlyKeys("1b", "1c");
        assertThat(revocations.crl().number()).as("the CRL left 1a out already: not re-signed, not pushed")
                .isEqualTo(crlNumber);
    }

    /**
     * Replicas share revocations.pb: a replica pruning must not write back its own, older copy over a revocation
     * another replica (or the CLI) wrote since it last read the file.
     */
    @Test
    void pruningKeepsWhatAnotherReplicaWroteSinceThisOneRead() {
        StateDirectory state = StateDirectory.open(dir);
        try (IssuanceJournal journal = IssuanceJournal.open(state, "a", T0)) {
            journal.append(new IssuanceJournal.Entry("2a", T0.plus(Duration.ofHours(1)), IDENTITY));
        }
        RevocationStore replicaA = new RevocationStore(state, clock);
        RevocationStore replicaB = new RevocationStore(state, clock);
        replicaA.revokeSerial("2a", RevocationReason.KEY_COMPROMISE, "", "admin");
        clock.set(T0.plus(Duration.ofDays(30)));
        replicaB.revokeSerial("2b", RevocationReason.SUPERSEDED, "", "admin"); // A has not read the file since

        assertThat(replicaA.prune(r -> CrlSigner.expired(r, clock.instant().minus(PRUNE_AFTER_EXPIRY))))
                .containsExactly("2a");
        assertThat(new RevocationStore(state, clock).all()).containsOnlyKeys("2b");
        assertThat(replicaA.all()).containsOnlyKeys("2b");
    }

    private Revocations revocations(StateDirectory state) {
        RootGenerator.GeneratedRoot root = RootGenerator.generate("cluster.local", Duration.ofDays(365), T0);
        CaAuthority authority = CaAuthority.of(root.certificate(), root.key(), List.of(),
                List.of(root.certificate()), "test", T0);
        return new Revocations(new RevocationStore(state, clock), () -> authority,
                new TrustBundleState("cluster.local", clock), null, CRL_VALIDITY, PRUNE_AFTER_EXPIRY, clock);
    }
}
