package io.jmesh.core.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** Ports in untrusted text are plain ASCII digits: not what {@link Integer#parseInt} also takes. */
class PortsTest {

    @Test
    void plainDigitsAreRead() {
        assertThat(Ports.parse("port", "80")).isEqualTo(80);
        assertThat(Ports.parse("port", "0")).isZero();
        assertThat(Ports.parse("port", "65535")).isEqualTo(65_535);
        assertThat(Ports.parse("port", "00080")).isEqualTo(80);
        assertThat(Ports.parseOrNegative("15008")).isEqualTo(15_008);
    }

    @Test
    void signsSpacesOtherScriptsAndOutOfRangeAreRefusedNamingTheField() {
        // Integer.parseInt reads the first five as 80 (or 0)
        for (String text : new String[] {"+80", "-0", "+0", "\u0668\u0660", "\uff18\uff10", " 80", "80 ", "", "8 0",
            "0x50", "80.0", "8e1", "65536", "99999999999999999999", "-1"}) {
            assertThat(Ports.parseOrNegative(text)).as(text).isEqualTo(-1);
            assertThatThrownBy(() -> Ports.parse("upstreams[0]", text)).as(text)
                    .isExactlyInstanceOf(IllegalArgumentException.class)
                    .hasMessage("upstreams[0]: '" + text + "' (expected: a port number 0..65535 in digits)");
        }
        assertThat(Ports.parseOrNegative(null)).isEqualTo(-1);
    }

    @Test
    void digitsAreAsciiDigitsOnly() {
        assertThat(Ports.isDigits("0123456789")).isTrue();
        assertThat(Ports.isDigits("123456789012345678901234567890")).isTrue();
        for (String text : new String[] {"", "+1", "-1", "1 ", "\u0661", "1_000"}) {
            assertThat(Ports.isDigits(text)).as(text).isFalse();
        }
        assertThat(Ports.isDigits(null)).isFalse();
    }
}
