package io.jmesh.ca.revocation;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.ca.root.StateDirectory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The issuance journal keeps about one certificate lifetime: expired entries leave at start and on prune. */
class IssuanceJournalTest {

    @TempDir
    Path dir;

    @Test
    void pruneDropsExpiredEntriesAndAppendsContinue() throws Exception {
        StateDirectory state = StateDirectory.open(dir);
        Instant now = Instant.parse("2026-12-02T12:00:00Z");
        try (IssuanceJournal j = IssuanceJournal.open(state, "r1", now)) {
            j.append(new IssuanceJournal.Entry("a1", now.minus(Duration.ofHours(1)), "spiffe://td/ns/a/sa/x"));
            j.append(new IssuanceJournal.Entry("b2", now.plus(Duration.ofHours(1)), "spiffe://td/ns/a/sa/x"));
            assertThat(IssuanceJournal.findAll(dir.resolve("issued"), "spiffe://td/ns/a/sa/x",
                    now.minus(Duration.ofDays(1)))).extracting(IssuanceJournal.Entry::serialHex).containsExactly("a1", "b2");

            j.prune(now);
            j.append(new IssuanceJournal.Entry("c3", now.plus(Duration.ofHours(2)), "spiffe://td/ns/a/sa/y"));
            assertThat(Files.readAllLines(dir.resolve("issued").resolve("r1.log"))).hasSize(2)
                    .allSatisfy(l -> assertThat(l).doesNotStartWith("a1"));
            assertThat(IssuanceJournal.findSerial(dir.resolve("issued"), "c3").identity())
                    .isEqualTo("spiffe://td/ns/a/sa/y");
        }
        try (IssuanceJournal reopened = IssuanceJournal.open(state, "r1", now.plus(Duration.ofMinutes(90)))) {
            assertThat(Files.readAllLines(dir.resolve("issued").resolve("r1.log"))).containsExactly(
                    "c3 " + now.plus(Duration.ofHours(2)).getEpochSecond() + " spiffe://td/ns/a/sa/y");
        }
    }
}
