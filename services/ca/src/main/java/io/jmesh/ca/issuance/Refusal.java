package io.jmesh.ca.issuance;

/** A refused certificate request: the reason and a message for the caller naming the field and the expectation. */
public final class Refusal extends Exception {

    private final RefusalReason reason;

    public Refusal(RefusalReason reason, String message) {
        super(message, null, false, false);
        this.reason = reason;
    }

    public RefusalReason reason() {
        return reason;
    }
}
