package io.jmesh.core.net;

import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * IP addresses written in untrusted text, read strictly and without any name lookup: a dotted quad, or IPv6
 * without brackets or zone. {@link InetAddress#getByName} is no gate for this: it resolves whatever it cannot read
 * as a literal (names made of digits, dots and colons such as "10.", "999.1.1.1" or ".:1" included), and it reads
 * legacy short forms ("93.18" is 93.0.0.18).
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
        if (!literal) {
            return null;
        }
        try {
            // a checked literal: read as written, never looked up (and "::1.2.3.4" stays the IPv6 address it names)
            return InetAddress.getByName(text);
        } catch (UnknownHostException e) {
            return null;
        }
    }

    /** Whether {@code text} is a strict literal ({@link #parse} would read it). */
    public static boolean is(String text) {
        return parse(text) != null;
    }
}
