package io.jmesh.ztunnel.telemetry;

/**
 * The {@code response_flags} values Istio's ztunnel reports a connection with, and which one a failure maps to.
 * A failure that knows its flag carries it ({@link Failure}); any other failure to establish a connection is
 * {@link #CONNECT}, as Istio's default for an error it does not name.
 */
public final class ResponseFlags {

    /** No flag: the connection was made. */
    public static final String NONE = "-";
    /** Authorization policy denied the connection. */
    public static final String DENY = "DENY";
    /** The upstream connection could not be made (refused, failed, answered other than 200), or broke. */
    public static final String CONNECT = "CONNECT";
    /** The TLS handshake with the peer ztunnel failed (including a peer outside the expected identities). */
    public static final String TLS_FAILURE = "TLS_FAILURE";
    /**
     * The peer completed the TLS handshake but not HTTP/2's: no SETTINGS frame in time, something else than HTTP/2,
     * or the connection closed before its SETTINGS.
     */
    public static final String H2_HANDSHAKE_FAILURE = "H2_HANDSHAKE_FAILURE";
    /** The TCP connect to an HBONE port timed out: typically a network policy dropping it. */
    public static final String NETWORK_POLICY = "NETWORK_POLICY";
    /** No certificate for the source's identity. */
    public static final String IDENTITY_ERROR = "IDENTITY_ERROR";
    /** The peer presented a revoked certificate. */
    public static final String CERT_REVOKED = "CERT_REVOKED";

    private ResponseFlags() {}

    /** The flag a failure to establish a connection is reported with. */
    public static String of(Throwable failure) {
        return failure instanceof Failure f ? f.responseFlag() : CONNECT;
    }

    /** A failure that says which response flag it is reported with; no stack trace (an expected outcome). */
    public static final class Failure extends RuntimeException {
        private static final long serialVersionUID = 1L;
        private final String responseFlag;

        public Failure(String responseFlag, String message) {
            super(message, null, false, false);
            this.responseFlag = responseFlag;
        }

        public String responseFlag() {
            return responseFlag;
        }
    }
}
