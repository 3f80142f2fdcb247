package io.jmesh.ca.issuance;

import io.jmesh.ca.auth.Caller;
import io.jmesh.ca.auth.TokenReviewer;
import io.jmesh.ca.placement.Placement;
import io.jmesh.ca.placement.PlacementSource;
import io.jmesh.ca.revocation.IssuanceJournal;
import io.jmesh.ca.revocation.RevocationStore;
import io.jmesh.ca.revocation.Revocations;
import io.jmesh.ca.root.CaAuthority;
import io.jmesh.ca.root.RootGenerator;
import io.jmesh.ca.root.StateDirectory;
import io.jmesh.ca.root.TrustBundleState;
import io.jmesh.ca.signing.CsrValidator;
import io.jmesh.ca.signing.LeafSigner;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.kafka.EventPublisher;
import io.jmesh.core.kafka.KafkaSettings;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * The {@link CertificateIssuer} of a CA without its gRPC server: real CSR validation, signing, journal and
 * revocation check on a state directory of its own, the default limits of {@code ca-defaults.yaml}, Kafka off.
 * Every bearer token authenticates as node {@value #NODE}'s ztunnel, and placement schedules {@link #SLEEP} on it.
 */
final class InProcessIssuer implements AutoCloseable {

    static final String TRUST_DOMAIN = "cluster.local";
    static final String NODE = "node-a";
    static final SpiffeId SLEEP = SpiffeId.of(TRUST_DOMAIN, "default", "sleep");
    static final SpiffeId ZTUNNEL = Caller.nodeIdentity(TRUST_DOMAIN);
    static final int MAX_CSR_BYTES = 16_384;

    final CaAuthority authority;
    final CertificateIssuer issuer;
    private final IssuanceJournal journal;

    InProcessIssuer(Path stateDir) {
        Clock clock = Clock.systemUTC();
        Instant now = clock.instant();
        StateDirectory state = StateDirectory.open(stateDir);
        RootGenerator.GeneratedRoot root = RootGenerator.generate(TRUST_DOMAIN, Duration.ofDays(365), now);
        authority = CaAuthority.of(root.certificate(), root.key(), List.of(), List.of(root.certificate()),
                "fuzz", now);
        PrometheusRegistry registry = new PrometheusRegistry();
        EventPublisher publisher = EventPublisher.create(new KafkaSettings("", 16, Duration.ofSeconds(5)), "fuzz",
                registry);
        journal = IssuanceJournal.open(state, "fuzz", now);
        Revocations revocations = new Revocations(new RevocationStore(state, clock), () -> authority,
                new TrustBundleState(TRUST_DOMAIN, clock), null, Duration.ofHours(1), Duration.ofDays(7), clock);
        Caller node = new Caller(NODE, null, ZTUNNEL, "fuzz-token", null);
        TokenReviewer everyTokenIsTheNode = token -> TokenReviewer.Review.ok(node);
        issuer = new CertificateIssuer(
                new CertificateIssuer.Settings(TRUST_DOMAIN, Duration.ofHours(24), Duration.ofDays(90), false),
                everyTokenIsTheNode, new SleepOnNodeA(), () -> authority, new CsrValidator(MAX_CSR_BYTES),
                new LeafSigner(Duration.ofMinutes(5)),
                new CaMetrics(registry, clock, () -> null, () -> null, () -> 0),
                new IssuanceAudit(publisher, "audit", "fuzz", TRUST_DOMAIN), journal, revocations, clock);
    }

    @Override
    public void close() {
        journal.close();
    }

    private static final class SleepOnNodeA implements PlacementSource {
        private final Placement placement = new Placement.Builder().add(NODE, SLEEP).build();

        @Override
        public Placement current() {
            return placement;
        }

        @Override
        public CompletionStage<?> ready() {
            return CompletableFuture.completedFuture(null);
        }

        @Override
        public String describe() {
            return "fixed: " + SLEEP.uri() + " on " + NODE;
        }
    }
}
