package io.jmesh.ztunnel.dns;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code dns.upstreams} entries and resolv.conf name servers: IP literals and ports as plain digits only; the search
 * list and {@code ndots} as glibc reads them.
 */
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
        assertThat(ResolvConf.read(f).nameservers()).containsExactly(new InetSocketAddress("10.0.0.2", 53),
                new InetSocketAddress("fe80::1", 53));
    }

    @Test
    void theSearchListAndNdotsAreRead() throws Exception {
        ResolvConf conf = read("""
                nameserver 10.0.0.1
                search a.test b.test. a.test
                options timeout:1 ndots:2 attempts:3
                """);
        assertThat(conf.nameservers()).containsExactly(new InetSocketAddress("10.0.0.1", 53));
        assertThat(conf.searchDomains()).as("the final dot dropped, once each").containsExactly("a.test", "b.test");
        assertThat(conf.ndots()).isEqualTo(2);
    }

    @Test
    void aDomainLineIsAOneDomainSearchListAndTheLastOfSearchAndDomainWins() throws Exception {
        assertThat(read("domain corp.test\n").searchDomains()).containsExactly("corp.test");
        assertThat(read("domain corp.test other.test\n").searchDomains()).containsExactly("corp.test");
        assertThat(read("search a.test b.test\ndomain corp.test\n").searchDomains()).containsExactly("corp.test");
        assertThat(read("domain corp.test\nsearch a.test b.test\n").searchDomains())
                .containsExactly("a.test", "b.test");
        assertThat(read("search a.test\nsearch b.test c.test\n").searchDomains()).containsExactly("b.test", "c.test");
        assertThat(read("search a.test\nsearch\n").searchDomains()).as("an empty search line is ignored")
                .containsExactly("a.test");
    }

    @Test
    void withoutTheFileOrASearchLineThereIsNoSearchListAndNdotsIsOne() throws Exception {
        assertThat(ResolvConf.read(dir.resolve("missing"))).isEqualTo(new ResolvConf(List.of(), List.of(), 1));
        ResolvConf conf = read("nameserver 10.0.0.1\n# search commented.test\n; domain commented.test\n");
        assertThat(conf.searchDomains()).isEmpty();
        assertThat(conf.ndots()).isEqualTo(1);
    }

    @Test
    void ndotsIsCappedAtFifteenAndAValueThatIsNotDigitsIsIgnored() throws Exception {
        assertThat(read("options ndots:5\n").ndots()).isEqualTo(5);
        assertThat(read("options ndots:0\n").ndots()).isZero();
        assertThat(read("options ndots:30\n").ndots()).isEqualTo(15);
        assertThat(read("options ndots:0015\n").ndots()).isEqualTo(15);
        assertThat(read("options ndots:99999999999999999999\n").ndots()).isEqualTo(15);
        assertThat(read("options ndots:3\noptions ndots:x\n").ndots()).isEqualTo(3);
        assertThat(read("options ndots:-1 ndots:+2 ndots:\n").ndots()).isEqualTo(1);
        assertThat(read("options ndots:3\noptions ndots:4\n").ndots()).as("the last wins").isEqualTo(4);
    }

    private ResolvConf read(String text) throws Exception {
        Path f = dir.resolve("resolv.conf");
        Files.writeString(f, text);
        return ResolvConf.read(f);
    }
}
