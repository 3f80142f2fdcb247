package io.jmesh.core.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.HexFormat;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.DEROctetString;
import org.junit.jupiter.api.Test;

class DerTest {

    private static final HexFormat HEX = HexFormat.of();

    @Test
    void objectIdentifiersEncodeAsBouncyCastleEncodesThem() throws Exception {
        for (String oid : new String[] {"1.2.840.10045.2.1", "1.2.840.113549.1.9.14", "2.5.29.17", "1.3.101.112",
                "2.999.4294967296", "0.0"}) {
            assertThat(Der.oid(oid)).as(oid).isEqualTo(new ASN1ObjectIdentifier(oid).getEncoded());
            assertThat(Der.read(Der.oid(oid), 0).oidString()).as(oid).isEqualTo(oid);
        }
        assertThatThrownBy(() -> Der.oid("1")).hasMessageContaining("two arcs or more");
    }

    @Test
    void lengthsTakeTheShortFormBelow128AndTheLongOneAbove() throws Exception {
        for (int n : new int[] {0, 127, 128, 255, 256, 65_535, 65_536}) {
            assertThat(Der.octetString(new byte[n])).as("%d bytes", n).isEqualTo(new DEROctetString(new byte[n]).getEncoded());
        }
        assertThat(Der.sequence()).isEqualTo(HEX.parseHex("3000"));
        assertThat(Der.bool(true)).isEqualTo(HEX.parseHex("0101ff"));
        assertThat(Der.bitString(new byte[] {7})).isEqualTo(HEX.parseHex("03020007"));
        assertThat(Der.implicitPrimitive(6, "a:b")).isEqualTo(HEX.parseHex("8603613a62"));
    }

    @Test
    void readingWalksNestedElementsAndRefusesWhatOverrunsItsParent() {
        byte[] der = Der.sequence(Der.integer(1), Der.explicit(0, Der.oid("2.5.29.17")));
        Der.Element seq = Der.read(der, 0).expect(Der.SEQUENCE, "outer");
        Der.Element version = seq.first().expect(Der.INTEGER, "version");
        assertThat(version.contents()).containsExactly(1);
        Der.Element tagged = version.next(seq);
        assertThat(tagged.tag()).isEqualTo(0xa0);
        assertThat(tagged.first().encoded()).isEqualTo(Der.oid("2.5.29.17"));
        assertThat(tagged.next(seq)).isNull();
        assertThatThrownBy(() -> seq.first().expect(Der.SEQUENCE, "version"))
                .hasMessage("der: version has tag 0x2 (expected: 0x30)");
        // an inner element claiming more than its parent holds
        assertThatThrownBy(() -> Der.read(HEX.parseHex("30030205000000"), 0).first())
                .hasMessageContaining("claims 5 bytes, 1 left");
        assertThatThrownBy(() -> Der.read(HEX.parseHex("30"), 0)).hasMessage("der: truncated at byte 0");
        assertThatThrownBy(() -> Der.read(HEX.parseHex("3080"), 0)).hasMessageContaining("expected: definite");
        assertThatThrownBy(() -> Der.read(HEX.parseHex("1f0100"), 0)).hasMessageContaining("multi-byte tag");
        assertThatThrownBy(() -> Der.read(HEX.parseHex("3000"), 0).first()).hasMessageContaining("is empty");
    }
}
