package io.jmesh.ztunnel.testing;

import java.io.IOException;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;

/** How an application's socket sees its tunnel end: tests tell a clean FIN from a reset and from a socket left open. */
public final class SocketEnd {

    private SocketEnd() {}

    /**
     * How the next read ends: {@code read <byte>}, {@code eof}, {@code reset} or {@code hung} (the socket's read
     * timeout passed).
     */
    public static String next(Socket s) throws IOException {
        try {
            int b = s.getInputStream().read();
            return b < 0 ? "eof" : "read " + b;
        } catch (SocketTimeoutException e) {
            return "hung";
        } catch (SocketException e) {
            return "reset";
        }
    }
}
