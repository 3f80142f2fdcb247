package io.jmesh.ca.signing;

/**
 * A certificate signing request the CA will not sign, with the kind of problem and an operator-readable message
 * naming the field and what was expected. Thrown without a stack trace: bad input is normal, not exceptional.
 */
public final class CsrException extends Exception {

    /** What kind of problem the request has; the issuance layer maps each to a gRPC status and metric reason. */
    public enum Problem {
        /** Larger than the configured limit. */
        TOO_LARGE,
        /** Not a PEM certificate request, undecodable, or its signature does not verify. */
        MALFORMED,
        /** A key type or size the CA does not accept, or a weak signature algorithm. */
        UNSUPPORTED_KEY,
        /** Subject alternative names other than exactly one SPIFFE URI. */
        INVALID_SAN
    }

    private final Problem problem;

    public CsrException(Problem problem, String message) {
        super(message, null, false, false);
        this.problem = problem;
    }

    public Problem problem() {
        return problem;
    }
}
