package io.jmesh.ztunnel.trust;

/** A trust bundle from the ca that ztunnel refuses to use; {@link #reason()} is the metric label. */
public final class BundleRejected extends Exception {

    private static final long serialVersionUID = 1L;
    private final String reason;

    BundleRejected(String reason, String message) {
        super(message, null, false, false);
        this.reason = reason;
    }

    public String reason() {
        return reason;
    }
}
