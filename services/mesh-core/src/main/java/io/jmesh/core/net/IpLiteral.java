package io.jmesh.core.net;

import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * IP addresses written in untrusted text, read strictly and without any name lookup: a dotted quad of decimal
 * octets without leading zeros, or IPv6 without brackets or zone (an embedded dotted quad follows the same rule).
 * {@link InetAddress#getByName} is no gate for this: it resolves whatever it cannot read as a literal (names made of
 * digits, dots and colons such as "10.", "999.1.1.1" or ".:1" included), and it reads legacy short forms ("93.18" is
 * 93.0.0.18). An octet with a leading zero ("010") is refused, as Go's net.ParseIP and Rust's Ipv4Addr refuse it:
 * the JDK and Netty read it as decimal ten, inet_aton and many other readers as octal eight, so the same text would
 * name a different address to each.
 */
public final class IpLiteral {

    private IpLiteral() {}

    /** The address {@code text} writes, or null when it is not a strict literal. */
    public static InetAddress parse(String text) {
        if (text == null) {
            return null;
        }
        boolean literal = text.indexOf(':') >= 0
                ? text.matches("[0-9a-fA-F:.]+") && NetUtil.isValidIpV6Address(text)
                : NetUtil.isValidIpV4Address(text);
        if (!literal || leadingZeroOctet(text)) {
            return null;
        }
        try {
            // a checked literal: read as written, never looked up (and "::1.2.3.4" stays the IPv6 address it names)
            return InetAddress.getByName(text);
        } catch (UnknownHostException e) {
            return null;
        }
    }

    /** Whether the dotted quad of {@code text} (all of it, or an IPv6's IPv4 tail) has an octet such as 010 or 00. */
    private static boolean leadingZeroOctet(String text) {
        int start = text.lastIndexOf(':') + 1; // the dotted part is always last in IPv6
        if (text.indexOf('.', start) < 0) {
            return false;
        }
        for (int i = start; i < text.length() - 1; i++) {
            if (text.charAt(i) == '0' && (i == start || text.charAt(i - 1) == '.') && text.charAt(i + 1) != '.') {
                return true;
            }
        }
        return false;
    }

    /** Whether {@code text} is a strict literal ({@link #parse} would read it). */
    public static boolean is(String text) {
        return parse(text) != null;
    }

    /**
     * {@code ip:port} as logs and HBONE authorities write it: IPv6 bracketed, in its canonical short form (RFC 5952,
     * {@code [fd00::1]:8080}), so the port is never ambiguous and text matches Istio's.
     */
    public static String hostPort(InetAddress ip, int port) {
        String h = NetUtil.toAddressString(ip);
        return (h.indexOf(':') >= 0 ? "[" + h + "]" : h) + ":" + port;
    }
}
