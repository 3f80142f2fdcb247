package io.jmesh.ztunnel.identity;

import java.util.List;

/**
 * A CA answer refused before use; {@link #reason()} labels {@code ztunnel_certificate_rejected_total}. No stack
 * trace: the message says what was wrong, and a misbehaving CA must not cost one per CSR.
 */
final class RejectedCertificate extends Exception {

    /** Every reason {@link CaAnswer} gives. */
    static final List<String> REASONS = List.of("empty_chain", "malformed", "key_mismatch", "identity_mismatch",
            "not_yet_valid", "expired", "untrusted_chain", "no_roots");

    private final String reason;

    RejectedCertificate(String reason, String message) {
        super(message, null, false, false);
        this.reason = reason;
    }

    String reason() {
        return reason;
    }
}
