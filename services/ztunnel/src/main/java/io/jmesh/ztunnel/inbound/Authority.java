package io.jmesh.ztunnel.inbound;

import io.jmesh.core.config.Ports;
import io.jmesh.core.net.IpLiteral;
import java.net.InetAddress;
import java.net.InetSocketAddress;

/** Parses a CONNECT {@code :authority} of the form {@code ip:port} or {@code [v6]:port}, never resolving names. */
final class Authority {

    private Authority() {}

    /**
     * @throws IllegalArgumentException naming what is wrong
     */
    static InetSocketAddress parse(CharSequence authority) {
        if (authority == null || authority.length() == 0) {
            throw new IllegalArgumentException("missing :authority");
        }
        String a = authority.toString();
        String host;
        String port;
        if (a.startsWith("[")) {
            int end = a.indexOf(']');
            if (end < 0 || end + 1 >= a.length() || a.charAt(end + 1) != ':') {
                throw new IllegalArgumentException("authority '" + a + "': expected [ipv6]:port");
            }
            host = a.substring(1, end);
            port = a.substring(end + 2);
        } else {
            int colon = a.lastIndexOf(':');
            if (colon <= 0 || a.indexOf(':') != colon) {
                throw new IllegalArgumentException("authority '" + a + "': expected ip:port");
            }
            host = a.substring(0, colon);
            port = a.substring(colon + 1);
        }
        InetAddress ip = IpLiteral.parse(host);
        if (ip == null) {
            throw new IllegalArgumentException("authority '" + a + "': host is not an IP address "
                    + "(hostname authorities belong to double HBONE, which this ztunnel does not serve)");
        }
        if (!Ports.isDigits(port)) { // Integer.parseInt would take "+80" and the digits of every script
            throw new IllegalArgumentException("authority '" + a + "': port '" + port + "' is not a number");
        }
        int p = Ports.parseOrNegative(port);
        if (p < 1) {
            throw new IllegalArgumentException("authority '" + a + "': port " + port + " (expected: 1..65535)");
        }
        return new InetSocketAddress(ip, p);
    }
}
