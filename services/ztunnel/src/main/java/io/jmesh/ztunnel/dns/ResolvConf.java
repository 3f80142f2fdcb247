package io.jmesh.ztunnel.dns;

import io.jmesh.core.config.Ports;
import io.jmesh.core.net.IpLiteral;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The {@code nameserver} lines of a resolv.conf: the upstream servers when {@code dns.upstreams} is empty. */
final class ResolvConf {

    private ResolvConf() {}

    /** The file's name servers on port 53, in order; none when it is missing or names none. */
    static List<InetSocketAddress> nameservers(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (IOException e) {
            return List.of();
        }
        List<InetSocketAddress> out = new ArrayList<>();
        for (String line : lines) {
            String[] words = line.trim().split("\\s+");
            if (words.length >= 2 && words[0].equals("nameserver")) {
                int zone = words[1].indexOf('%'); // fe80::1%eth0: the zone is the kernel's business
                InetAddress ip = IpLiteral.parse(zone > 0 ? words[1].substring(0, zone) : words[1]);
                if (ip != null) { // anything else in the file is not a name server
                    out.add(new InetSocketAddress(ip, 53));
                }
            }
        }
        return out;
    }

    /** {@code host:port} (IPv6 in brackets) or a bare address (port 53), as {@code dns.upstreams} lists them. */
    static InetSocketAddress parse(String field, String value) {
        String host = value;
        int port = 53;
        if (value.startsWith("[")) {
            int close = value.indexOf(']');
            if (close < 0) {
                throw new IllegalArgumentException(field + ": '" + value + "' (expected: [ipv6]:port)");
            }
            host = value.substring(1, close);
            if (close + 1 < value.length()) {
                port = port(field, value, value.substring(close + 1));
            }
        } else if (value.indexOf(':') == value.lastIndexOf(':') && value.indexOf(':') > 0) {
            host = value.substring(0, value.indexOf(':'));
            port = port(field, value, value.substring(value.indexOf(':')));
        }
        InetAddress ip = IpLiteral.parse(host);
        if (ip == null) {
            throw new IllegalArgumentException(field + ": '" + value
                    + "' (expected: an IP address, ip:port or [ipv6]:port; names are not looked up)");
        }
        return new InetSocketAddress(ip, port);
    }

    /** {@code colonPort}: what follows the address, which must be ':' and a port in plain digits. */
    private static int port(String field, String value, String colonPort) {
        int p = colonPort.startsWith(":") ? Ports.parseOrNegative(colonPort.substring(1)) : -1;
        if (p >= 1) {
            return p;
        }
        throw new IllegalArgumentException(field + ": '" + value + "' (expected: a port 1..65535 after ':')");
    }
}
