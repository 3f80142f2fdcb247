package io.jmesh.core.admin;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class EofHeldBackTest {

    private static final String A = "# TYPE a counter\na_total 1.0\n# EOF\n";
    private static final String B = "# TYPE b counter\nb_total 2.0\n# EOF\n";

    @Test
    void familiesWrittenInAnySlicesEndWithOneEof() throws IOException {
        for (int slice = 1; slice <= 12; slice++) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            EofHeldBack body = new EofHeldBack(out, true);
            write(body, A, slice);
            body.endOfFamily();
            write(body, B, slice);
            body.endOfFamily();
            body.finish();
            assertThat(out.toString(StandardCharsets.UTF_8)).as("slices of %d bytes", slice)
                    .isEqualTo("# TYPE a counter\na_total 1.0\n# TYPE b counter\nb_total 2.0\n# EOF\n");
        }
    }

    @Test
    void openMetricsWithoutFamiliesIsJustEofAndPrometheusTextPassesUnchanged() throws IOException {
        ByteArrayOutputStream empty = new ByteArrayOutputStream();
        new EofHeldBack(empty, true).finish();
        assertThat(empty.toString(StandardCharsets.UTF_8)).isEqualTo("# EOF\n");

        ByteArrayOutputStream text = new ByteArrayOutputStream();
        EofHeldBack body = new EofHeldBack(text, false);
        write(body, "a_total 1.0\n# HELP x ends like # EOF\n", 5);
        body.endOfFamily();
        body.finish();
        assertThat(text.toString(StandardCharsets.UTF_8)).isEqualTo("a_total 1.0\n# HELP x ends like # EOF\n");
    }

    private static void write(EofHeldBack body, String s, int slice) throws IOException {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        for (int off = 0; off < b.length; off += slice) {
            body.write(b, off, Math.min(slice, b.length - off));
        }
    }
}
