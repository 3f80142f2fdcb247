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
}
