package io.jmesh.ca.revocation;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.ca.root.StateDirectory;
import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.proto.ca.v1.RevocationReason;
import io.jmesh.testing.MutableClock;
import java.io.ByteArrayInputStream;
import java.security.cert.CertificateFactory;
import java.security.cert.X509CRL;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Every revocation ends: one whose certificate's expiry is unknown (its serial is in no journal) is bounded by the
 * CA's maximum certificate validity from the revocation (no certificate issued before it can live longer), then
 * leaves the CRL and is pruned like any other; an identity revocation's marker goes once no certificate signed
 * before it can still be valid. So neither {@code revocations.pb} nor {@code identity-revocations.pb} grows for ever.
 */
@Timeout(60)
class RevocationEndTest {

    static final String SLEEP = "spiffe://cluster.local/ns/default/sa/sleep";
    static final Instant T0 = Instant.parse("2026-12-02T10:00:00Z");
    static final Duration MAX_VALIDITY = Duration.ofDays(2);
    static final Duration PRUNE_AFTER_EXPIRY = Duration.ofDays(7);
    static final MutableClock clock = new MutableClock(T0);

    @RegisterExtension
    static CaServerExtension ca = CaServerExtension.builder().clock(clock)
            .config("certificates.defaultValidity", "1d").config("certificates.maxValidity", "2d")
            .config("revocation.pruneAfterExpiry", "7d").build();

    @Test
    void aRevocationOfUnknownExpiryAndAnIdentityMarkerEndAndArePruned() throws Exception {
        Revocations revocations = ca.bootstrap().revocations();
        revocations.revokeSerial("0c0ffee0", RevocationReason.KEY_COMPROMISE, "", "admin");
        revocations.revokeIdentity(SLEEP, RevocationReason.KEY_COMPROMISE, "", "admin");
        StateDirectory state = StateDirectory.open(ca.stateDir());
        assertThat(state.readBytes(StateDirectory.IDENTITY_REVOCATIONS)).isNotEmpty();
        assertThat(crlSerials(revocations)).contains("c0ffee0");

        clock.set(T0.plus(MAX_VALIDITY).plusSeconds(60));
        revocations.refresh();
        assertThat(crlSerials(revocations)).as("no certificate issued before the revocation is still valid")
                .doesNotContain("c0ffee0");
        assertThat(state.readBytes(StateDirectory.IDENTITY_REVOCATIONS)).as("the marker can revoke nothing more")
                .isNullOrEmpty();

        clock.set(T0.plus(MAX_VALIDITY).plus(PRUNE_AFTER_EXPIRY).plusSeconds(60));
        revocations.refresh();
        assertThat(revocations.store().all()).as("pruned like a revocation of a known expiry")
                .doesNotContainKey("c0ffee0");
        assertThat(new RevocationStore(state, clock).all()).as("revocations.pb as another replica reads it")
                .doesNotContainKey("c0ffee0");
    }

    private static java.util.List<String> crlSerials(Revocations revocations) throws Exception {
        X509CRL crl = (X509CRL) CertificateFactory.getInstance("X.509")
                .generateCRL(new ByteArrayInputStream(revocations.crl().der()));
        return crl.getRevokedCertificates() == null ? java.util.List.of()
                : crl.getRevokedCertificates().stream().map(e -> e.getSerialNumber().toString(16)).toList();
    }
}
