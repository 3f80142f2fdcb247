package io.jmesh.core.net;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.Inet6Address;
import org.junit.jupiter.api.Test;

class IpLiteralTest {

    @Test
    void strictLiteralsAreReadAsWritten() {
        assertThat(IpLiteral.parse("10.0.0.1").getHostAddress()).isEqualTo("10.0.0.1");
        assertThat(IpLiteral.parse("fd00::1").getHostAddress()).isEqualTo("fd00:0:0:0:0:0:0:1");
        // an IPv4-compatible IPv6 address stays IPv6 (reading its bytes would turn it into 1.1.2.3)
        assertThat(IpLiteral.parse("::1.1.2.3")).isInstanceOf(Inet6Address.class);
    }

    @Test
    void namesShortFormsBracketsAndZonesAreNotLiterals() {
        for (String s : new String[] {"93.18", "10.", "999.1.1.1", ".:1", "[::1]", "fe80::1%eth0", "localhost",
            "example.com", "", "1.2.3.4.5"}) {
            assertThat(IpLiteral.parse(s)).as(s).isNull();
            assertThat(IpLiteral.is(s)).as(s).isFalse();
        }
        assertThat(IpLiteral.parse(null)).isNull();
    }

    @Test
    void anOctetWithALeadingZeroIsNoLiteralAsInGoAndRust() {
        // the JDK and Netty read "010" as ten, inet_aton as octal eight: the same text would name two addresses
        for (String s : new String[] {"010.0.0.1", "10.0.0.01", "1.00.2.3", "00.0.0.0", "127.0.0.001",
            "::ffff:010.0.0.1", "::ffff:10.0.0.01", "64:ff9b::192.168.001.1", "::01.2.3.4"}) {
            assertThat(IpLiteral.parse(s)).as(s).isNull();
            assertThat(IpLiteral.is(s)).as(s).isFalse();
        }
        // a bare 0 is an octet, and IPv6 groups may have leading zeros (RFC 4291)
        assertThat(IpLiteral.parse("0.0.0.0").getHostAddress()).isEqualTo("0.0.0.0");
        assertThat(IpLiteral.parse("10.0.100.0").getHostAddress()).isEqualTo("10.0.100.0");
        assertThat(IpLiteral.parse("::ffff:10.0.0.1").getHostAddress()).isEqualTo("10.0.0.1");
        assertThat(IpLiteral.parse("fd00:0000::0001").getHostAddress()).isEqualTo("fd00:0:0:0:0:0:0:1");
        assertThat(IpLiteral.parse("0::0.0.0.0")).isInstanceOf(Inet6Address.class);
    }

    @Test
    void hostPortBracketsAndShortensIpv6() throws Exception {
        assertThat(IpLiteral.hostPort(java.net.InetAddress.getByName("10.0.0.1"), 80)).isEqualTo("10.0.0.1:80");
        assertThat(IpLiteral.hostPort(IpLiteral.parse("fd00:251:0:0:0:0:0:1"), 15008)).isEqualTo("[fd00:251::1]:15008");
        assertThat(IpLiteral.hostPort(IpLiteral.parse("::ffff:10.1.2.3"), 1)).isEqualTo("10.1.2.3:1");
    }
}
