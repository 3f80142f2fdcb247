package io.jmesh.ztunnel.dns;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code dns.upstreams} entries and resolv.conf name servers: IP literals and ports as plain digits only. */
class ResolvConfTest {

    @TempDir
    Path dir;

    @Test
    void upstreamsAreAnAddressWithAnOptionalPort() {
        assertThat(ResolvConf.parse("dns.upstreams[0]", "10.0.0.1")).isEqualTo(new InetSocketAddress("10.0.0.1", 53));
        assertThat(ResolvConf.parse("dns.upstreams[0]", "10.0.0.1:5353"))
                .isEqualTo(new InetSocketAddress("10.0.0.1", 5353));
        assertThat(ResolvConf.parse("dns.upstreams[0]", "[fd00::1]:53"))
                .isEqualTo(new InetSocketAddress("fd00::1", 53));
        assertThat(ResolvConf.parse("dns.upstreams[0]", "[fd00::1]")).isEqualTo(new InetSocketAddress("fd00::1", 53));
        assertThat(ResolvConf.parse("dns.upstreams[0]", "fd00::1")).isEqualTo(new InetSocketAddress("fd00::1", 53));
    }

    @Test
    void aPortIsPlainAsciiDigitsAfterAColon() {
        // Integer.parseInt read "+53" and "٥٣" as 53; "[v6]x53" lost its 'x' unseen
        for (String value : new String[] {"10.0.0.1:+53", "[fd00::1]:+53", "10.0.0.1:\u0665\u0663", "10.0.0.1: 53",
            "10.0.0.1:53 ", "10.0.0.1:", "10.0.0.1:0", "10.0.0.1:65536", "[fd00::1]x53", "[fd00::1]53",
            "[fd00::1]:99999999999"}) {
            assertThatThrownBy(() -> ResolvConf.parse("dns.upstreams[1]", value)).as(value)
                    .isExactlyInstanceOf(IllegalArgumentException.class)
                    .hasMessage("dns.upstreams[1]: '" + value + "' (expected: a port 1..65535 after ':')");
        }
    }

    @Test
    void anOctetWithALeadingZeroIsNoAddress() {
        assertThatThrownBy(() -> ResolvConf.parse("dns.upstreams[0]", "010.0.0.1:53"))
                .hasMessage("dns.upstreams[0]: '010.0.0.1:53' (expected: an IP address, ip:port or [ipv6]:port;"
                        + " names are not looked up)");
    }

    @Test
    void nameserversWithALeadingZeroOctetAreSkipped() throws Exception {
        // glibc's inet_aton reads 010 as octal 8: no reading of it is safe
        Path f = dir.resolve("resolv.conf");
        Files.writeString(f, "nameserver 010.0.0.1\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\n");
        assertThat(ResolvConf.nameservers(f)).containsExactly(new InetSocketAddress("10.0.0.2", 53),
                new InetSocketAddress("fe80::1", 53));
    }
}
