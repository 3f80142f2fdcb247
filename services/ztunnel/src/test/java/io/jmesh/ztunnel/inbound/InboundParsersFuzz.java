package io.jmesh.ztunnel.inbound;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.testing.fuzz.Fuzzer;
import io.jmesh.ztunnel.testing.IpLiterals;
import io.jmesh.testing.fuzz.NameLookups;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.util.AsciiString;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The pure parsers of an inbound HBONE CONNECT, at full speed, on header values as they arrive (octets):
 * {@link Authority#parse} and {@link InboundStream#forwardedFor}. Oracle: the documented result or the documented
 * rejection, never another exception, and never a name lookup ({@link NameLookups}). An accepted authority is an
 * IP literal as written (an independent reader, {@link IpLiterals}, reads the same address) and a port in
 * 1..65535; a refusal is an IllegalArgumentException that quotes the authority. A {@code forwarded} client address
 * is the literal written in the first {@code for=} parameter, or there is none.
 */
@Tag("fuzz")
class InboundParsersFuzz {

    @BeforeAll
    static void watchLookups() {
        NameLookups.install();
    }

    @AfterAll
    static void stopWatching() {
        NameLookups.uninstall();
    }

    @Test
    void authoritiesAreIpLiteralsWithAPortOrRefusedWithAReason() {
        Fuzzer.named("hbone-authority", 128).seeds(bytes("127.0.30.11:8080"), bytes("[fd00::13]:15008"),
                bytes("[::ffff:10.1.2.3]:80"), bytes("10.96.0.10:9080"), bytes("[::1]:1"),
                bytes("255.255.255.255:65535")).run(input -> {
            String text = new String(input, StandardCharsets.ISO_8859_1); // what AsciiString reads: one char per octet
            InetSocketAddress a;
            try {
                a = NameLookups.forbidden(() -> Authority.parse(new AsciiString(input)));
            } catch (IllegalArgumentException e) {
                assertThat(e.getMessage()).satisfiesAnyOf(
                        m -> assertThat(m).isEqualTo("missing :authority"),
                        m -> assertThat(m).startsWith("authority '" + text + "': "));
                return;
            }
            assertThat(a.isUnresolved()).isFalse();
            assertThat(a.getPort()).isBetween(1, 65_535);
            String host = text.startsWith("[") ? text.substring(1, text.indexOf(']'))
                    : text.substring(0, text.lastIndexOf(':'));
            InetAddress literal = IpLiterals.read(host);
            assertThat(literal).as("'%s' accepted: its host must be an IP literal", text).isNotNull();
            // an IPv6 literal stays IPv6, ::ffff:a.b.c.d too (the reference reader, as the JDK, collapses it to IPv4)
            assertThat(a.getAddress()).as(text).isEqualTo(host.indexOf(':') >= 0 ? asIpv6(literal) : literal);
            assertThat(a.getAddress() instanceof java.net.Inet6Address).as(text).isEqualTo(host.indexOf(':') >= 0);
        });
    }

    @Test
    void forwardedForIsAnAddressOrNothing() {
        Fuzzer.named("hbone-forwarded", 256).seeds(bytes("for=\"127.0.30.12:41234\";host=echo.default.svc.cluster.local"),
                bytes("for=\"[fd00::13]:41234\""), bytes("host=x;for=10.0.0.1:1"), bytes("for=10.0.0.1"),
                bytes("For=\"[::1]\";proto=https"), bytes("for=::1"), bytes("for=\"fd00::13\"")).run(input -> {
            var h = new DefaultHttp2Headers(false).add("forwarded", new AsciiString(input));
            InetAddress a = NameLookups.forbidden(() -> InboundStream.forwardedFor(h));
            if (a != null) {
                String host = firstForHost(new String(input, StandardCharsets.ISO_8859_1));
                assertThat(host).as("an address only from a for= parameter").isNotNull();
                assertThat(a).as("the address written in for=").isEqualTo(IpLiterals.read(host));
            }
        });
    }

    /**
     * The node of the first {@code for=} parameter (RFC 7239): quotes dropped, {@code [v6]} (then nothing or a port),
     * a bare IPv6 as a whole (more than one colon: no port), or before the port.
     */
    static String firstForHost(String forwarded) {
        for (String part : forwarded.split(";")) {
            String p = part.trim();
            if (p.toLowerCase(Locale.ROOT).startsWith("for=")) {
                String v = p.substring(4).replace("\"", "");
                if (v.startsWith("[")) {
                    int end = v.indexOf(']');
                    boolean tail = end >= 0 && (end + 1 == v.length() || v.charAt(end + 1) == ':');
                    String host = tail ? v.substring(1, end) : "";
                    return host.contains(":") ? host : "";
                }
                long colons = v.chars().filter(c -> c == ':').count();
                return colons == 1 ? v.substring(0, v.indexOf(':')) : v;
            }
        }
        return null;
    }

    /** {@code ip} as 16 bytes: an IPv4 address as its IPv4-mapped IPv6 address. */
    static InetAddress asIpv6(InetAddress ip) {
        byte[] b = ip.getAddress();
        if (b.length == 16) {
            return ip;
        }
        byte[] mapped = new byte[16];
        mapped[10] = (byte) 0xff;
        mapped[11] = (byte) 0xff;
        System.arraycopy(b, 0, mapped, 12, 4);
        try {
            return java.net.Inet6Address.getByAddress(null, mapped, (java.net.NetworkInterface) null);
        } catch (java.net.UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }
}
