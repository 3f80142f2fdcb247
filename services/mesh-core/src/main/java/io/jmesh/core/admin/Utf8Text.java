package io.jmesh.core.admin;

import java.io.IOException;
import java.io.OutputStream;

/**
 * Characters encoded as UTF-8 into a buffer of {@value #BUFFER_BYTES} bytes that goes to the stream when full:
 * what {@code new BufferedWriter(new OutputStreamWriter(out, UTF_8))} writes (a lone surrogate as {@code ?}), but
 * without the buffer objects that writer allocates at each flush, so that writing a family's text allocates nothing
 * per sample.
 */
final class Utf8Text {

    static final int BUFFER_BYTES = 8192;

    private final OutputStream out;
    private final byte[] buffer = new byte[BUFFER_BYTES];
    private int used;

    Utf8Text(OutputStream out) {
        this.out = out;
    }

    void write(char c) throws IOException {
        if (c < 0x80) {
            room(1);
            buffer[used++] = (byte) c;
        } else {
            write(String.valueOf(c), 0, 1); // rare: our own separators are ASCII
        }
    }

    void write(String s) throws IOException {
        write(s, 0, s.length());
    }

    void write(String s, int off, int len) throws IOException {
        int end = off + len;
        for (int i = off; i < end; i++) {
            char c = s.charAt(i);
            if (c < 0x80) {
                room(1);
                buffer[used++] = (byte) c;
            } else if (c < 0x800) {
                room(2);
                buffer[used++] = (byte) (0xC0 | c >> 6);
                buffer[used++] = (byte) (0x80 | c & 0x3F);
            } else if (Character.isHighSurrogate(c) && i + 1 < end && Character.isLowSurrogate(s.charAt(i + 1))) {
                int cp = Character.toCodePoint(c, s.charAt(++i));
                room(4);
                buffer[used++] = (byte) (0xF0 | cp >> 18);
                buffer[used++] = (byte) (0x80 | cp >> 12 & 0x3F);
                buffer[used++] = (byte) (0x80 | cp >> 6 & 0x3F);
                buffer[used++] = (byte) (0x80 | cp & 0x3F);
            } else if (Character.isSurrogate(c)) {
                room(1);
                buffer[used++] = '?'; // the UTF-8 encoder's replacement for a malformed character
            } else {
                room(3);
                buffer[used++] = (byte) (0xE0 | c >> 12);
                buffer[used++] = (byte) (0x80 | c >> 6 & 0x3F);
                buffer[used++] = (byte) (0x80 | c & 0x3F);
            }
        }
    }

    void write(char[] chars, int off, int len) throws IOException {
        for (int i = off; i < off + len; i++) {
            write(chars[i]);
        }
    }

    void flush() throws IOException {
        if (used > 0) {
            out.write(buffer, 0, used);
            used = 0;
        }
        out.flush();
    }

    private void room(int bytes) throws IOException {
        if (used + bytes > buffer.length) {
            out.write(buffer, 0, used);
            used = 0;
        }
    }
}
