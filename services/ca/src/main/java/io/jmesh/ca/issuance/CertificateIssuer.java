package io.jmesh.ca.issuance;

import com.google.protobuf.Value;
import io.jmesh.ca.auth.Caller;
import io.jmesh.ca.auth.TokenReviewer;
import io.jmesh.ca.placement.PlacementSource;
import io.jmesh.ca.revocation.IssuanceJournal;
import io.jmesh.ca.revocation.Revocations;
import io.jmesh.ca.root.CaAuthority;
import io.jmesh.ca.signing.CsrException;
import io.jmesh.ca.signing.CsrValidator;
import io.jmesh.ca.signing.IssuedLeaf;
import io.jmesh.ca.signing.LeafSigner;
import io.jmesh.ca.signing.ValidatedCsr;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.proto.istio.v1.auth.IstioCertificateRequest;
import io.jmesh.proto.istio.v1.auth.IstioCertificateResponse;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.function.Supplier;

/**
 * The decision behind {@code CreateCertificate}, independent of transport: authenticate the caller's token, check
 * the requested lifetime and metadata, validate the CSR, authorize the identity (a node gets its own identity, or
 * by impersonation the identity of a workload scheduled on it), sign, then count and audit the outcome.
 *
 * <p>Order of checks: authentication first (an unauthenticated caller learns nothing else), then the cheap
 * request checks, then the CSR (signature verification), then authorization.
 *
 * <p>Thread-safe; CPU-bound: runs on the signing pool, never on an event loop.
 */
public final class CertificateIssuer {

    /** The metadata key Istio's ztunnel sets when it asks for a workload's identity. */
    public static final String IMPERSONATED_IDENTITY = "ImpersonatedIdentity";

    /** Everything the issuer needs; immutable. */
    public record Settings(String trustDomain, Duration defaultValidity, Duration maxValidity,
            boolean zeroValidityMeansDefault) {}

    private final Settings settings;
    private final TokenReviewer reviewer;
    private final PlacementSource placement;
    private final Supplier<CaAuthority> authority;
    private final CsrValidator validator;
    private final LeafSigner signer;
    private final CaMetrics metrics;
    private final IssuanceAudit audit;
    private final Clock clock;
    private final IssuanceJournal journal;
    private final Revocations revocations;

    public CertificateIssuer(Settings settings, TokenReviewer reviewer, PlacementSource placement,
            Supplier<CaAuthority> authority, CsrValidator validator, LeafSigner signer, CaMetrics metrics,
            IssuanceAudit audit, IssuanceJournal journal, Revocations revocations, Clock clock) {
        this.journal = journal;
        this.revocations = revocations;
        this.settings = settings;
        this.reviewer = reviewer;
        this.placement = placement;
        this.authority = authority;
        this.validator = validator;
        this.signer = signer;
        this.metrics = metrics;
        this.audit = audit;
        this.clock = clock;
    }

    /**
     * Decides one request.
     *
     * @param bearerToken the token from {@code authorization: Bearer <token>}, or null when absent
     * @param arrivalNanos {@link System#nanoTime()} when the request arrived (for the latency histogram)
     * @throws Refusal with the reason and a precise message; already counted and audited
     */
    public IstioCertificateResponse issue(String bearerToken, IstioCertificateRequest request, long arrivalNanos)
            throws Refusal {
        Caller caller = null;
        String requested = null;
        try {
            TokenReviewer.Review review = reviewer.review(bearerToken);
            if (review.unavailable()) {
                throw new Refusal(RefusalReason.AUTHENTICATION_UNAVAILABLE, "cannot check the credential now: "
                        + review.error() + " (retry later)");
            }
            if (!review.authenticated()) {
                throw new Refusal(RefusalReason.UNAUTHENTICATED, "authentication failed: " + review.error()
                        + " (expected: metadata 'authorization: Bearer <node token>')");
            }
            caller = review.caller();
            SpiffeId impersonated = impersonatedIdentity(request);
            requested = impersonated != null ? impersonated.uri() : null;
            Duration validity = validity(request.getValidityDuration());
            ValidatedCsr csr = csr(request.getCsr());
            requested = csr.identity().uri();
            authorize(caller, impersonated, csr.identity());
            CaAuthority ca = authority.get();
            Instant now = clock.instant();
            if (now.plus(validity).isAfter(ca.signingCert().getNotAfter().toInstant())) {
                throw new Refusal(RefusalReason.VALIDITY_TOO_LONG, "validity_duration: " + validity.toSeconds()
                        + "s would outlive the CA certificate, which expires at "
                        + ca.signingCert().getNotAfter().toInstant() + " (expected: a shorter lifetime)");
            }
            IssuedLeaf leaf;
            try {
                leaf = signer.sign(csr, validity, ca, now);
            } catch (RuntimeException e) {
                throw new Refusal(RefusalReason.INTERNAL, "signing failed: " + e.getMessage());
            }
            IssuanceJournal.Entry issued = new IssuanceJournal.Entry(leaf.serialHex(), leaf.notAfter(), requested);
            journal.append(issued);
            if (revocations.revokeIfIdentityRevokedSince(issued, now)) {
                throw new Refusal(RefusalReason.REVOKED_DURING_ISSUANCE, requested + " was revoked while certificate "
                        + leaf.serialHex() + " was being signed; that certificate is revoked too (expected: retry"
                        + " for a certificate issued after the revocation)");
            }
            metrics.issued(settings.trustDomain(), System.nanoTime() - arrivalNanos);
            audit.issued(decision(caller, requested, request), leaf.serialHex(), leaf.notAfter(), now);
            return IstioCertificateResponse.newBuilder().addAllCertChain(leaf.chain()).build();
        } catch (Refusal r) {
            metrics.refused(r.reason());
            audit.refused(decision(caller, requested, request), r.reason(), r.getMessage(), clock.instant());
            throw r;
        }
    }

    /** Counts and audits a request refused before it reached {@link #issue} (overload, oversize, drain). */
    public Refusal refuseEarly(RefusalReason reason, String message) {
        metrics.refused(reason);
        audit.refused(new IssuanceAudit.Decision(null, null, null, 0), reason, message, clock.instant());
        return new Refusal(reason, message);
    }

    private static IssuanceAudit.Decision decision(Caller caller, String requested, IstioCertificateRequest r) {
        return new IssuanceAudit.Decision(caller == null ? null : caller.node(),
                caller == null ? null : caller.identity().uri(), requested, r.getValidityDuration());
    }

    private Duration validity(long seconds) throws Refusal {
        Duration max = settings.maxValidity();
        if (seconds <= 0) {
            if (seconds == 0 && settings.zeroValidityMeansDefault()) {
                return settings.defaultValidity();
            }
            throw new Refusal(RefusalReason.INVALID_VALIDITY, "validity_duration: " + seconds
                    + " (expected: 1.." + max.toSeconds() + " seconds)");
        }
        if (seconds > max.toSeconds()) {
            throw new Refusal(RefusalReason.VALIDITY_TOO_LONG, "validity_duration: " + seconds
                    + " (expected: <= " + max.toSeconds() + " seconds, the CA's maximum; longer requests are"
                    + " refused, not shortened)");
        }
        return Duration.ofSeconds(seconds);
    }

    private static SpiffeId impersonatedIdentity(IstioCertificateRequest request) throws Refusal {
        if (!request.hasMetadata() || !request.getMetadata().containsFields(IMPERSONATED_IDENTITY)) {
            return null;
        }
        Value v = request.getMetadata().getFieldsOrThrow(IMPERSONATED_IDENTITY);
        if (v.getKindCase() != Value.KindCase.STRING_VALUE) {
            throw new Refusal(RefusalReason.INVALID_METADATA, "metadata." + IMPERSONATED_IDENTITY + ": a "
                    + v.getKindCase().name().toLowerCase(java.util.Locale.ROOT) + " (expected: a SPIFFE id string)");
        }
        SpiffeId id = SpiffeId.tryParse(v.getStringValue());
        if (id == null) {
            throw new Refusal(RefusalReason.INVALID_METADATA, "metadata." + IMPERSONATED_IDENTITY + ": '"
                    + v.getStringValue() + "' (expected: spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>)");
        }
        return id;
    }

    private ValidatedCsr csr(String pem) throws Refusal {
        try {
            return validator.validate(pem);
        } catch (CsrException e) {
            RefusalReason reason = switch (e.problem()) {
                case TOO_LARGE -> RefusalReason.REQUEST_TOO_LARGE;
                case MALFORMED -> RefusalReason.INVALID_CSR;
                case UNSUPPORTED_KEY -> RefusalReason.UNSUPPORTED_KEY;
                case INVALID_SAN -> RefusalReason.INVALID_SAN;
            };
            throw new Refusal(reason, e.getMessage());
        }
    }

    private void authorize(Caller caller, SpiffeId impersonated, SpiffeId requested) throws Refusal {
        if (impersonated != null && !impersonated.equals(requested)) {
            throw new Refusal(RefusalReason.IDENTITY_MISMATCH, "csr: URI SAN " + requested.uri()
                    + " differs from metadata." + IMPERSONATED_IDENTITY + " " + impersonated.uri()
                    + " (expected: the same identity)");
        }
        if (!requested.trustDomain().equals(settings.trustDomain())) {
            throw new Refusal(RefusalReason.TRUST_DOMAIN_MISMATCH, "identity " + requested.uri()
                    + " is in trust domain " + requested.trustDomain() + " (expected: " + settings.trustDomain() + ")");
        }
        if (impersonated == null) {
            if (!requested.equals(caller.identity())) {
                throw new Refusal(RefusalReason.IDENTITY_NOT_ALLOWED, caller.describe() + " may obtain only its own"
                        + " identity " + caller.identity().uri() + " without metadata." + IMPERSONATED_IDENTITY
                        + ", not " + requested.uri());
            }
            return;
        }
        if (!caller.isNode()) {
            throw new Refusal(RefusalReason.IDENTITY_NOT_ALLOWED, caller.describe()
                    + " may not impersonate workloads (only node ztunnels may)");
        }
        if (!placement.current().scheduled(caller.node(), impersonated)) {
            throw new Refusal(RefusalReason.WORKLOAD_NOT_ON_NODE, "node " + caller.node()
                    + " runs no workload with identity " + impersonated.uri() + " (placement: "
                    + placement.describe() + ")");
        }
    }
}
