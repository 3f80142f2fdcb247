package io.jmesh.ztunnel.inpod;

import com.sun.jna.LastErrorException;
import com.sun.jna.ptr.IntByReference;
import io.netty.channel.Channel;
import io.netty.channel.unix.UnixChannel;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;

/**
 * Where a captured connection was headed. Istio's CNI agent sends a pod's outbound TCP to 15001 with a NAT
 * {@code REDIRECT}, which rewrites the destination: the original one is kept by conntrack and read back with
 * {@code SO_ORIGINAL_DST}. Under {@code TPROXY} there is no NAT entry and the socket's local address already is the
 * original destination.
 */
final class OriginalDestination {

    private OriginalDestination() {}

    /** The pre-NAT destination of {@code ch} (an epoll socket), or its local address when it was not NATed. */
    static InetSocketAddress of(Channel ch) {
        InetSocketAddress local = (InetSocketAddress) ch.localAddress();
        if (!(ch instanceof UnixChannel unix)) {
            return local;
        }
        int fd = unix.fd().intValue();
        boolean v4 = local.getAddress() instanceof Inet4Address
                || local.getAddress().getAddress().length == 16 && isV4Mapped(local.getAddress().getAddress());
        byte[] address = new byte[v4 ? 16 : 28];
        IntByReference length = new IntByReference(address.length);
        try {
            LibC.INSTANCE.getsockopt(fd, v4 ? LibC.SOL_IP : LibC.SOL_IPV6, LibC.SO_ORIGINAL_DST, address, length);
        } catch (LastErrorException e) {
            if (e.getErrorCode() == LibC.ENOENT) {
                return local; // no NAT entry: TPROXY or a direct connection
            }
            throw new IllegalStateException("SO_ORIGINAL_DST: " + LibC.describe(e), e);
        }
        return decode(address, v4);
    }

    /** {@code sockaddr_in} or {@code sockaddr_in6}: family, port (network order), [flow info], address. */
    static InetSocketAddress decode(byte[] sockaddr, boolean v4) {
        int port = (sockaddr[2] & 0xff) << 8 | sockaddr[3] & 0xff;
        byte[] ip = new byte[v4 ? 4 : 16];
        System.arraycopy(sockaddr, v4 ? 4 : 8, ip, 0, ip.length);
        try {
            return new InetSocketAddress(InetAddress.getByAddress(ip), port);
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e); // only for a wrong length, which cannot happen here
        }
    }

    private static boolean isV4Mapped(byte[] a) {
        for (int i = 0; i < 10; i++) {
            if (a[i] != 0) {
                return false;
            }
        }
        return a[10] == (byte) 0xff && a[11] == (byte) 0xff;
    }
}
