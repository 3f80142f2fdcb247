package io.jmesh.ztunnel.authz;

import io.jmesh.proto.istio.security.Address;

/**
 * A compiled CIDR ({@link Address}: raw address bytes and a prefix length). An address of the other family
 * never matches.
 */
final class Cidr {

    private final byte[] network;
    private final int length;

    private Cidr(byte[] network, int length) {
        this.network = network;
        this.length = length;
    }

    static Cidr compile(Address a, String path) {
        byte[] bytes = a.getAddress().toByteArray();
        if (bytes.length != 4 && bytes.length != 16) {
            throw new IllegalArgumentException(path + ".address: " + bytes.length
                    + " bytes (expected: 4 for IPv4 or 16 for IPv6)");
        }
        int max = bytes.length * 8;
        if (a.getLength() > max) {
            throw new IllegalArgumentException(path + ".length: " + a.getLength() + " (expected: <= " + max + ")");
        }
        return new Cidr(bytes, a.getLength());
    }

    boolean contains(byte[] address) {
        if (address.length != network.length) {
            return false;
        }
        int full = length / 8;
        for (int i = 0; i < full; i++) {
            if (address[i] != network[i]) {
                return false;
            }
        }
        int rest = length % 8;
        if (rest == 0) {
            return true;
        }
        int mask = (0xff << (8 - rest)) & 0xff;
        return (address[full] & mask) == (network[full] & mask);
    }

    static boolean any(Cidr[] cidrs, byte[] address) {
        for (Cidr c : cidrs) {
            if (c.contains(address)) {
                return true;
            }
        }
        return false;
    }
}
