package io.jmesh.core.tls;

import io.vertx.core.Handler;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import javax.net.ssl.SSLSession;

/**
 * Enforces {@link TlsPolicy#CIPHER_SUITES} on what was negotiated, not only on what is offered. BoringSSL cannot
 * take ChaCha20-Poly1305 off TLS 1.3's list, so a peer that offers only it gets it, whatever the enabled suites say
 * (the JDK provider refuses it in the handshake already). A service's TLS listener closes such a connection before
 * serving anything on it.
 */
public final class PermittedSuites {

    private PermittedSuites() {}

    /** Whether {@code session} negotiated one of {@link TlsPolicy#CIPHER_SUITES}; false without a session. */
    public static boolean negotiated(SSLSession session) {
        return session != null && TlsPolicy.CIPHER_SUITES.contains(session.getCipherSuite());
    }

    /**
     * Sets {@code server}'s handlers: a connection that negotiated another suite is closed as it is accepted, and
     * no request on one reaches {@code requests}.
     */
    public static HttpServer serve(HttpServer server, Handler<HttpServerRequest> requests) {
        return serve(server, requests, connection -> {});
    }

    /** {@link #serve(HttpServer, Handler)}, handing each connection kept to {@code accepted}. */
    public static HttpServer serve(HttpServer server, Handler<HttpServerRequest> requests,
            Handler<HttpConnection> accepted) {
        return server.connectionHandler(connection -> {
            if (negotiated(connection.sslSession())) {
                accepted.handle(connection);
            } else {
                connection.close();
            }
        }).requestHandler(request -> {
            if (negotiated(request.connection().sslSession())) {
                requests.handle(request);
            } else {
                request.connection().close();
            }
        });
    }
}
