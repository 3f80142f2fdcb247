package io.jmesh.ztunnel.inbound;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/**
 * The PROXY protocol v2 header ztunnel writes ahead of a tunnel's bytes to a workload with an application tunnel
 * ({@code application_tunnel.protocol: PROXY}, typically a sandwiched waypoint): command PROXY over TCP, the client's
 * address as source, the HBONE target (the {@code :authority}) as destination, and the client's SPIFFE identity in
 * TLV {@code 0xD0}, as Istio's ztunnel writes it.
 */
final class ProxyProtocolHeader {

    private static final byte[] SIGNATURE = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    /** Istio's TLV for the source's SPIFFE identity. */
    static final int AUTHORITY_TLV = 0xD0;

    private ProxyProtocolHeader() {}

    /** The header; {@code identity} null or empty writes no TLV. Mixed families are written as IPv6. */
    static ByteBuf v2(ByteBufAllocator alloc, InetSocketAddress source, InetSocketAddress destination, String identity) {
        boolean v4 = source.getAddress() instanceof Inet4Address && destination.getAddress() instanceof Inet4Address;
        byte[] tlv = identity == null ? new byte[0] : identity.getBytes(StandardCharsets.UTF_8);
        int addresses = v4 ? 12 : 36;
        int length = addresses + (tlv.length == 0 ? 0 : 3 + tlv.length);
        ByteBuf b = alloc.buffer(16 + length);
        b.writeBytes(SIGNATURE);
        b.writeByte(0x21); // version 2, command PROXY
        b.writeByte(v4 ? 0x11 : 0x21); // AF_INET or AF_INET6, STREAM
        b.writeShort(length);
        b.writeBytes(bytes(source.getAddress(), v4));
        b.writeBytes(bytes(destination.getAddress(), v4));
        b.writeShort(source.getPort());
        b.writeShort(destination.getPort());
        if (tlv.length > 0) {
            b.writeByte(AUTHORITY_TLV);
            b.writeShort(tlv.length);
            b.writeBytes(tlv);
        }
        return b;
    }

    /** 4 bytes for IPv4, else 16 (an IPv4 address as {@code ::ffff:a.b.c.d}). */
    private static byte[] bytes(InetAddress a, boolean v4) {
        byte[] raw = a.getAddress();
        if (v4 || a instanceof Inet6Address) {
            return raw;
        }
        byte[] mapped = new byte[16];
        mapped[10] = (byte) 0xff;
        mapped[11] = (byte) 0xff;
        System.arraycopy(raw, 0, mapped, 12, 4);
        return mapped;
    }
}
