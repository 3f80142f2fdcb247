package io.jmesh.ztunnel.testing;

import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What the kernel says of a network namespace's TCP sockets ({@code /proc/net/tcp*}): tests wait for a state
 * instead of sleeping for a guess of how long ztunnel takes to reach it.
 */
public final class TcpStates {

    private TcpStates() {}

    /**
     * Whether a socket of this process's namespace is in SYN_SENT towards {@code ip:port}: ztunnel's connect is under
     * way, not yet answered.
     */
    public static boolean synSent(String ip, int port) throws Exception {
        return synSentIn(Files.readString(Path.of("/proc/net/tcp")) + Files.readString(Path.of("/proc/net/tcp6")),
                ip, port);
    }

    /** As {@link #synSent(String, int)}, in {@code tables}: the text of another namespace's {@code /proc/net/tcp*}. */
    public static boolean synSentIn(String tables, String ip, int port) throws Exception {
        byte[] a = InetAddress.getByName(ip).getAddress();
        // the kernel prints the address as one little-endian 32-bit word, the port big-endian; an IPv6 socket's
        // v4-mapped address ends the same way
        String remote = String.format("%02X%02X%02X%02X:%04X", a[3], a[2], a[1], a[0], port);
        for (String line : tables.split("\n")) {
            String[] f = line.trim().split("\\s+");
            if (f.length > 3 && f[2].endsWith(remote) && f[3].equals("02")) {
                return true;
            }
        }
        return false;
    }
}
