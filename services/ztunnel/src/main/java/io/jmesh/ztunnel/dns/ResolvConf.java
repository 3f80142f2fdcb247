package io.jmesh.ztunnel.dns;

import io.jmesh.core.config.Ports;
import io.jmesh.core.net.IpLiteral;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What ztunnel takes from a resolv.conf, read as glibc reads it: the {@code nameserver}s (the upstream servers when
 * {@code dns.upstreams} is empty), and the search list and {@code ndots} the hostname resolver expands short names
 * with.
 *
 * @param nameservers the name servers on port 53, in order
 * @param searchDomains the last {@code search} line's domains, or the last {@code domain} line's one domain when it
 *     comes later; none without either
 * @param ndots names with at least this many dots are asked as they are before the search list ({@code options
 *     ndots:N}, at most {@value #MAX_NDOTS}; glibc's default 1)
 */
public record ResolvConf(List<InetSocketAddress> nameservers, List<String> searchDomains, int ndots) {

    /** glibc caps {@code ndots} here. */
    static final int MAX_NDOTS = 15;
    /** A missing or unreadable file: no name server, no search list, glibc's defaults. */
    public static final ResolvConf NONE = new ResolvConf(List.of(), List.of(), 1);

    public ResolvConf {
        nameservers = List.copyOf(nameservers);
        searchDomains = List.copyOf(searchDomains);
    }

    /** The file's settings; {@link #NONE} when it is missing or unreadable. Blocking: call off the event loop. */
    public static ResolvConf read(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (IOException e) {
            return NONE;
        }
        List<InetSocketAddress> servers = new ArrayList<>();
        List<String> search = List.of();
        int ndots = NONE.ndots();
        for (String line : lines) {
            String[] words = line.trim().split("\\s+");
            if (words.length < 2) {
                continue; // a keyword without a value is ignored, as glibc does
            }
            switch (words[0]) {
                case "nameserver" -> {
                    InetSocketAddress server = nameserver(words[1]);
                    if (server != null) { // anything else in the file is not a name server
                        servers.add(server);
                    }
                }
                case "search" -> search = domains(Arrays.asList(words).subList(1, words.length));
                case "domain" -> search = domains(List.of(words[1]));
                case "options" -> ndots = ndots(words, ndots);
                default -> { } // comments and what the resolver does not use
            }
        }
        return new ResolvConf(servers, search, ndots);
    }

    private static InetSocketAddress nameserver(String word) {
        int zone = word.indexOf('%'); // fe80::1%eth0: the zone is the kernel's business
        InetAddress ip = IpLiteral.parse(zone > 0 ? word.substring(0, zone) : word);
        return ip == null ? null : new InetSocketAddress(ip, 53);
    }

    /** Each without its final dot, once; the root ({@code .}) is no search domain. */
    private static List<String> domains(List<String> words) {
        List<String> out = new ArrayList<>();
        for (String w : words) {
            String d = w.endsWith(".") ? w.substring(0, w.length() - 1) : w;
            if (!d.isEmpty() && !out.contains(d)) {
                out.add(d);
            }
        }
        return out;
    }

    /** {@code ndots:N} among {@code options}, capped as glibc does; a value that is not plain digits is ignored. */
    private static int ndots(String[] words, int current) {
        int ndots = current;
        for (int i = 1; i < words.length; i++) {
            if (words[i].startsWith("ndots:")) {
                String n = words[i].substring("ndots:".length());
                if (Ports.isDigits(n)) {
                    ndots = 0;
                    for (int c = 0; c < n.length(); c++) {
                        ndots = Math.min(ndots * 10 + n.charAt(c) - '0', MAX_NDOTS);
                    }
                }
            }
        }
        return ndots;
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
