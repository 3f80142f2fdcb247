package io.jmesh.ztunnel.testing;

import com.google.common.net.InetAddresses;
import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * An independent reader of IP literals, the fuzzers' reference for "the address as written": IPv4 as a dotted quad
 * of decimal octets (Netty's reader, which reads {@code 010} as ten, as the JDK does; also inside IPv6), IPv6 in
 * every RFC 4291 form (Guava's reader; Netty's knows only the {@code ::ffff:} and {@code ::} embedded-IPv4 forms).
 * Never resolves.
 */
public final class IpLiterals {

    private IpLiterals() {}

    /** The address {@code host} is a literal of, or null if it is none. */
    public static InetAddress read(String host) {
        if (host.indexOf(':') < 0) {
            byte[] v4 = NetUtil.isValidIpV4Address(host) ? NetUtil.createByteArrayFromIpAddressString(host) : null;
            try {
                return v4 == null ? null : InetAddress.getByAddress(v4);
            } catch (UnknownHostException e) {
                throw new IllegalStateException(e);
            }
        }
        String v6 = host;
        int v4 = host.lastIndexOf(':') + 1;
        if (host.indexOf('.', v4) >= 0) { // embedded IPv4: its octets read as above, then the IPv6 around them
            InetAddress tail = read(host.substring(v4));
            if (tail == null) {
                return null;
            }
            v6 = host.substring(0, v4) + tail.getHostAddress();
        }
        return v6.indexOf('%') < 0 && InetAddresses.isInetAddress(v6) ? InetAddresses.forString(v6) : null;
    }
}
