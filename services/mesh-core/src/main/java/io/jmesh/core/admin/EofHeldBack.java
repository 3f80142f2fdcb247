package io.jmesh.core.admin;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Passes an exposition written one metric family at a time through, keeping back OpenMetrics' {@code # EOF} line
 * that the writer puts after each family: the text must have exactly one, at its very end ({@link #finish}).
 * Always holds back the last {@value #HELD} bytes written, since a write may end with the start of that line.
 */
final class EofHeldBack extends OutputStream {

    private static final byte[] EOF = "# EOF\n".getBytes(StandardCharsets.US_ASCII);
    private static final int HELD = 6;

    private final OutputStream out;
    private final boolean openMetrics;
    private final byte[] tail = new byte[HELD];
    private int held;

    /** {@code openMetrics}: the text is OpenMetrics, which ends with one {@code # EOF}; else bytes pass unchanged. */
    EofHeldBack(OutputStream out, boolean openMetrics) {
        this.out = out;
        this.openMetrics = openMetrics;
    }

    @Override
    public void write(int b) throws IOException {
        write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
        if (len >= HELD) {
            out.write(tail, 0, held); // all of the held bytes are followed by at least HELD more
            out.write(b, off, len - HELD);
            System.arraycopy(b, off + len - HELD, tail, 0, HELD);
            held = HELD;
            return;
        }
        int excess = held + len - HELD;
        if (excess > 0) {
            out.write(tail, 0, excess);
            System.arraycopy(tail, excess, tail, 0, held - excess);
            held -= excess;
        }
        System.arraycopy(b, off, tail, held, len);
        held += len;
    }

    /** A family's text is complete: its closing {@code # EOF} is dropped. */
    void endOfFamily() {
        if (openMetrics && held == HELD && Arrays.equals(tail, EOF)) {
            held = 0;
        }
    }

    /** Writes what is held back, then OpenMetrics' one {@code # EOF} (also when no family had any data point). */
    void finish() throws IOException {
        out.write(tail, 0, held);
        held = 0;
        if (openMetrics) {
            out.write(EOF);
        }
    }
}
