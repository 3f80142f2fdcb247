package io.jmesh.ztunnel.inbound;

import io.jmesh.core.config.Ports;
import io.jmesh.core.net.IpLiteral;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.UnknownHostException;

/**
 * Parses a CONNECT {@code :authority}: {@code ip:port}, {@code [v6]:port}, or a service's {@code hostname:port} (what
 * Istio sends when the target is a service known by name, e.g. through an east-west gateway). Never resolves names.
 */
final class Authority {

    private Authority() {}

    /** An authority: an address, or a hostname ({@code ip} null, lower case) to look up among the services. */
    record Target(InetAddress ip, String hostname, int port) {
        InetSocketAddress address() {
            return new InetSocketAddress(ip, port);
        }
    }

    /**
     * Only {@code ip:port} or {@code [v6]:port}.
     *
     * @throws IllegalArgumentException naming what is wrong
     */
    static InetSocketAddress parse(CharSequence authority) {
        Target t = parseTarget(authority);
        if (t.ip() == null) {
            throw new IllegalArgumentException("authority '" + authority + "': host is not an IP address");
        }
        return t.address();
    }

    /**
     * An address or a DNS hostname, with a port in 1..65535.
     *
     * @throws IllegalArgumentException naming what is wrong
     */
    static Target parseTarget(CharSequence authority) {
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
        InetAddress ip = keepMapped(host, IpLiteral.parse(host));
        boolean name = ip == null && !a.startsWith("[") && isHostname(host);
        if (ip == null && !name) {
            throw new IllegalArgumentException("authority '" + a + "': host is not an IP address, nor a hostname");
        }
        if (!Ports.isDigits(port)) { // Integer.parseInt would take "+80" and the digits of every script
            throw new IllegalArgumentException("authority '" + a + "': port '" + port + "' is not a number");
        }
        int p = Ports.parseOrNegative(port);
        if (p < 1) {
            throw new IllegalArgumentException("authority '" + a + "': port " + port + " (expected: 1..65535)");
        }
        return new Target(ip, name ? host.toLowerCase(java.util.Locale.ROOT) : null, p);
    }

    /**
     * The JDK reads {@code ::ffff:a.b.c.d} as the IPv4 address a.b.c.d; Istio's inbound reads it as the IPv6 address
     * it is, which is never the IPv4 address a client dialled (its {@code IPMismatch}). Kept IPv6 here too.
     */
    private static InetAddress keepMapped(String host, InetAddress ip) {
        if (!(ip instanceof Inet4Address) || host.indexOf(':') < 0) {
            return ip;
        }
        byte[] mapped = new byte[16];
        mapped[10] = (byte) 0xff;
        mapped[11] = (byte) 0xff;
        System.arraycopy(ip.getAddress(), 0, mapped, 12, 4);
        try {
            return Inet6Address.getByAddress(null, mapped, (NetworkInterface) null);
        } catch (UnknownHostException e) {
            throw new IllegalStateException("16 bytes are an IPv6 address", e);
        }
    }

    /**
     * A DNS name as Kubernetes and ServiceEntry hosts are written: dot-separated labels of ASCII letters, digits and
     * inner hyphens, at most 63 characters each and 253 in all, with a letter somewhere (so "93.18" is no name).
     */
    static boolean isHostname(String host) {
        if (host.isEmpty() || host.length() > 253 || host.startsWith(".") || host.endsWith(".")) {
            return false;
        }
        boolean letter = false;
        for (String label : host.split("\\.", -1)) {
            if (label.isEmpty() || label.length() > 63 || label.startsWith("-") || label.endsWith("-")) {
                return false;
            }
            for (int i = 0; i < label.length(); i++) {
                char c = label.charAt(i);
                boolean alpha = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z';
                letter |= alpha;
                if (!alpha && !(c >= '0' && c <= '9') && c != '-') {
                    return false;
                }
            }
        }
        return letter;
    }
}
