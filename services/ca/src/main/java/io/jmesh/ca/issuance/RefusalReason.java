package io.jmesh.ca.issuance;

import io.jmesh.proto.ca.v1.CertificateAudit.ReasonCode;
import io.vertx.grpc.common.GrpcStatus;

/**
 * Why a certificate request was refused: the {@code reason} label of {@code ca_certificates_refused_total}, the
 * gRPC status the caller sees and the code of the audit event.
 */
public enum RefusalReason {
    /** Missing, unknown, revoked or expired bearer token. */
    UNAUTHENTICATED("unauthenticated", GrpcStatus.UNAUTHENTICATED, ReasonCode.UNAUTHENTICATED),
    /** ImpersonatedIdentity names a workload that is not scheduled on the caller's node. */
    WORKLOAD_NOT_ON_NODE("workload_not_on_node", GrpcStatus.PERMISSION_DENIED, ReasonCode.NODE_NOT_AUTHORIZED),
    /** Without impersonation, the CSR asks for an identity other than the caller's own. */
    IDENTITY_NOT_ALLOWED("identity_not_allowed", GrpcStatus.PERMISSION_DENIED, ReasonCode.NODE_NOT_AUTHORIZED),
    /** The identity belongs to another trust domain. */
    TRUST_DOMAIN_MISMATCH("trust_domain_mismatch", GrpcStatus.PERMISSION_DENIED, ReasonCode.TRUST_DOMAIN_MISMATCH),
    /** Garbage, a PEM block of another type, or a signature that does not verify. */
    INVALID_CSR("invalid_csr", GrpcStatus.INVALID_ARGUMENT, ReasonCode.INVALID_CSR),
    /** A key or signature algorithm the CA does not accept. */
    UNSUPPORTED_KEY("unsupported_key", GrpcStatus.INVALID_ARGUMENT, ReasonCode.INVALID_CSR),
    /** SANs other than exactly one SPIFFE URI (a DNS SAN, two URIs, none). */
    INVALID_SAN("invalid_san", GrpcStatus.INVALID_ARGUMENT, ReasonCode.IDENTITY_MISMATCH),
    /** The CSR's identity differs from ImpersonatedIdentity. */
    IDENTITY_MISMATCH("identity_mismatch", GrpcStatus.INVALID_ARGUMENT, ReasonCode.IDENTITY_MISMATCH),
    /** validity_duration zero or negative. */
    INVALID_VALIDITY("invalid_validity", GrpcStatus.INVALID_ARGUMENT, ReasonCode.INVALID_VALIDITY),
    /** validity_duration above the maximum (refused, never shortened). */
    VALIDITY_TOO_LONG("validity_too_long", GrpcStatus.INVALID_ARGUMENT, ReasonCode.VALIDITY_TOO_LONG),
    /** Metadata that cannot be understood (ImpersonatedIdentity not a SPIFFE id string). */
    INVALID_METADATA("invalid_metadata", GrpcStatus.INVALID_ARGUMENT, ReasonCode.INVALID_METADATA),
    /** The request or its CSR exceeds the size limit. */
    REQUEST_TOO_LARGE("request_too_large", GrpcStatus.RESOURCE_EXHAUSTED, ReasonCode.REQUEST_TOO_LARGE),
    /** Every signing thread busy and the wait queue full, or the CA is draining; retryable. */
    OVERLOADED("overloaded", GrpcStatus.UNAVAILABLE, ReasonCode.OVERLOADED),
    /**
     * The identity was revoked (by another replica) while this certificate was being signed: it is revoked too,
     * and the caller should retry; retryable.
     */
    REVOKED_DURING_ISSUANCE("revoked_during_issuance", GrpcStatus.UNAVAILABLE, ReasonCode.REVOKED_DURING_ISSUANCE),
    /** The credential could not be checked now (Kubernetes mode: TokenReview failed); retryable. */
    AUTHENTICATION_UNAVAILABLE("authentication_unavailable", GrpcStatus.UNAVAILABLE,
            ReasonCode.AUTHENTICATION_UNAVAILABLE),
    /** The CA failed (a broken key, a bug); the message says what. */
    INTERNAL("internal", GrpcStatus.INTERNAL, ReasonCode.INTERNAL_ERROR);

    private final String label;
    private final GrpcStatus status;
    private final ReasonCode auditCode;

    RefusalReason(String label, GrpcStatus status, ReasonCode auditCode) {
        this.label = label;
        this.status = status;
        this.auditCode = auditCode;
    }

    /** The metric label value. */
    public String label() {
        return label;
    }

    public GrpcStatus status() {
        return status;
    }

    public ReasonCode auditCode() {
        return auditCode;
    }
}
