package io.jmesh.ztunnel.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A UDP name server on a loopback address for tests: answers A and AAAA questions for the names it was given
 * (TTL 60 s), NOERROR without records for a known name's other family, nothing at all for a name it was told to
 * ignore, NXDOMAIN for any other name; EDNS in the query is ignored. Records every question as
 * {@code "<type> <name>"} ({@code A db.example.test}).
 */
public final class FakeDnsServer implements AutoCloseable {

    public final List<String> questions = new CopyOnWriteArrayList<>();
    private final Map<String, List<InetAddress>> names = new ConcurrentHashMap<>();
    private final java.util.Set<String> ignored = ConcurrentHashMap.newKeySet();
    private final java.util.Set<String> negativeWithSoa = ConcurrentHashMap.newKeySet();
    private final DatagramSocket udp;
    private volatile boolean open = true;

    public FakeDnsServer(String ip) throws IOException {
        udp = new DatagramSocket(new InetSocketAddress(ip, 0));
        Thread t = new Thread(this::serve, "fake-dns-server");
        t.setDaemon(true);
        t.start();
    }

    /** {@code name} resolves to {@code addresses} (IP literals, either family). */
    public FakeDnsServer answer(String name, String... addresses) {
        names.put(name, Arrays.stream(addresses).map(a -> {
            try {
                return InetAddress.getByName(a); // literals only: no lookup
            } catch (IOException e) {
                throw new IllegalArgumentException(a, e);
            }
        }).toList());
        return this;
    }

    /** Questions for {@code name} get no answer (a server that times out). */
    public FakeDnsServer ignore(String name) {
        ignored.add(name);
        return this;
    }

    /**
     * Questions for {@code name} get NXDOMAIN with the zone's SOA in the authority section, AA clear: a recursive
     * resolver relaying the zone's negative answer.
     */
    public FakeDnsServer negativeWithSoa(String name) {
        negativeWithSoa.add(name);
        return this;
    }

    public InetSocketAddress address() {
        return (InetSocketAddress) udp.getLocalSocketAddress();
    }

    /** How many questions of {@code type} (A, AAAA) for {@code name} arrived. */
    public long asked(String type, String name) {
        return questions.stream().filter((type + " " + name)::equals).count();
    }

    private void serve() {
        byte[] buf = new byte[4096];
        while (open) {
            try {
                DatagramPacket p = new DatagramPacket(buf, buf.length);
                udp.receive(p);
                byte[] a = answer(Arrays.copyOf(buf, p.getLength()));
                if (a != null) {
                    udp.send(new DatagramPacket(a, a.length, p.getSocketAddress()));
                }
            } catch (IOException | RuntimeException e) {
                if (!open) {
                    return;
                }
            }
        }
    }

    private byte[] answer(byte[] q) {
        StringBuilder name = new StringBuilder();
        int at = 12;
        while (q[at] != 0) {
            int len = q[at];
            name.append(name.length() == 0 ? "" : ".").append(new String(q, at + 1, len, StandardCharsets.US_ASCII));
            at += len + 1;
        }
        int questionEnd = at + 5;
        int type = ((q[at + 1] & 0xff) << 8) | (q[at + 2] & 0xff);
        String n = name.toString().toLowerCase(java.util.Locale.ROOT);
        questions.add((type == 1 ? "A" : type == 28 ? "AAAA" : String.valueOf(type)) + " " + n);
        if (ignored.contains(n)) {
            return null;
        }
        List<InetAddress> known = names.get(n);
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(Arrays.copyOf(q, questionEnd)); // header and question
        int count = 0;
        if (known != null) {
            for (InetAddress ip : known) {
                boolean v4 = ip instanceof Inet4Address;
                if (type == 1 && v4 || type == 28 && !v4) {
                    byte[] raw = ip.getAddress();
                    b.writeBytes(new byte[] {(byte) 0xC0, 12, 0, (byte) type, 0, 1, 0, 0, 0, 60, 0, (byte) raw.length});
                    b.writeBytes(raw);
                    count++;
                }
            }
        }
        byte[] out = b.toByteArray();
        out[2] = (byte) (0x80 | (q[2] & 0x01)); // a response; RD copied
        out[3] = (byte) (0x80 | (known == null ? 3 : 0)); // RA; NXDOMAIN for unknown names
        out[6] = 0;
        out[7] = (byte) count;
        out[8] = 0;
        out[9] = 0;
        out[10] = 0;
        out[11] = 0; // no additional records (the query's EDNS is not echoed)
        if (known == null && negativeWithSoa.contains(n)) {
            // owner: the question's name (a pointer); MNAME and RNAME the root; serial, refresh, retry, expire, minimum
            out[9] = 1;
            b.reset();
            b.writeBytes(out);
            b.writeBytes(new byte[] {(byte) 0xC0, 12, 0, 6, 0, 1, 0, 0, 0, 60, 0, 22, 0, 0});
            b.writeBytes(new byte[] {0, 0, 0, 1, 0, 0, 0, 60, 0, 0, 0, 60, 0, 0, 0, 60, 0, 0, 0, 60});
            return b.toByteArray();
        }
        return out;
    }

    @Override
    public void close() {
        open = false;
        udp.close();
    }
}
