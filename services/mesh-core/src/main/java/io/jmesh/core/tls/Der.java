package io.jmesh.core.tls;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The few DER (X.690) encodings and reads that PEM keys and ztunnel's CSRs need, so that services other than the
 * CA run without Bouncy Castle: its classes (and its jar's ~7,000 entries, whose central directory the JDK keeps on
 * the heap) were a megabyte or two of every such process's memory for a handful of structures.
 */
public final class Der {

    public static final int BOOLEAN = 0x01;
    public static final int INTEGER = 0x02;
    public static final int BIT_STRING = 0x03;
    public static final int OCTET_STRING = 0x04;
    public static final int NULL = 0x05;
    public static final int OID = 0x06;
    public static final int SEQUENCE = 0x30;
    public static final int SET = 0x31;

    private Der() {}

    /** One element: {@code tag}, its length, then {@code contents} (each already encoded, concatenated). */
    public static byte[] element(int tag, byte[]... contents) {
        int length = 0;
        for (byte[] c : contents) {
            length += c.length;
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(length + 6);
        out.write(tag);
        if (length < 0x80) {
            out.write(length);
        } else {
            int bytes = (32 - Integer.numberOfLeadingZeros(length) + 7) / 8;
            out.write(0x80 | bytes);
            for (int i = bytes - 1; i >= 0; i--) {
                out.write(length >>> (8 * i));
            }
        }
        for (byte[] c : contents) {
            out.writeBytes(c);
        }
        return out.toByteArray();
    }

    public static byte[] sequence(byte[]... elements) {
        return element(SEQUENCE, elements);
    }

    public static byte[] set(byte[]... elements) {
        return element(SET, elements);
    }

    /** A small non-negative INTEGER (versions). */
    public static byte[] integer(int value) {
        if (value < 0 || value > 127) {
            throw new IllegalArgumentException("der: integer " + value + " (expected: 0..127)");
        }
        return element(INTEGER, new byte[] {(byte) value});
    }

    public static byte[] octetString(byte[] value) {
        return element(OCTET_STRING, value);
    }

    /** A BIT STRING of whole bytes (no unused bits), as signatures and keys are. */
    public static byte[] bitString(byte[] value) {
        return element(BIT_STRING, new byte[] {0}, value);
    }

    public static byte[] nullValue() {
        return new byte[] {NULL, 0};
    }

    public static byte[] bool(boolean value) {
        return element(BOOLEAN, new byte[] {(byte) (value ? 0xff : 0)});
    }

    /** An OBJECT IDENTIFIER from its dotted form, e.g. {@code 1.2.840.10045.2.1}. */
    public static byte[] oid(String dotted) {
        String[] arcs = dotted.split("\\.");
        if (arcs.length < 2) {
            throw new IllegalArgumentException("der: object identifier " + dotted + " (expected: two arcs or more)");
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        writeArc(out, Long.parseLong(arcs[0]) * 40 + Long.parseLong(arcs[1]));
        for (int i = 2; i < arcs.length; i++) {
            writeArc(out, Long.parseLong(arcs[i]));
        }
        return element(OID, out.toByteArray());
    }

    private static void writeArc(ByteArrayOutputStream out, long arc) {
        int groups = Math.max(1, (64 - Long.numberOfLeadingZeros(arc) + 6) / 7);
        for (int i = groups - 1; i >= 0; i--) {
            out.write((int) ((arc >>> (7 * i)) & 0x7f) | (i > 0 ? 0x80 : 0));
        }
    }

    /** A context-specific, explicitly tagged element: {@code [n]} around {@code contents}. */
    public static byte[] explicit(int n, byte[]... contents) {
        return element(0xa0 | n, contents);
    }

    /** A context-specific, implicitly tagged primitive element {@code [n]}, e.g. a URI GeneralName ([6] IA5String). */
    public static byte[] implicitPrimitive(int n, String ascii) {
        return element(0x80 | n, ascii.getBytes(StandardCharsets.US_ASCII));
    }

    /**
     * Reads the DER element that starts at {@code offset} of {@code der}.
     *
     * @throws IllegalArgumentException naming what is wrong (truncated, long-form tag, indefinite or oversized length)
     */
    public static Element read(byte[] der, int offset) {
        return read(der, offset, der.length);
    }

    /** As {@link #read(byte[], int)}, for an element that must end by {@code limit} (its parent's end). */
    static Element read(byte[] der, int offset, int limit) {
        if (offset + 2 > limit) {
            throw new IllegalArgumentException("der: truncated at byte " + offset);
        }
        int tag = der[offset] & 0xff;
        if ((tag & 0x1f) == 0x1f) {
            throw new IllegalArgumentException("der: multi-byte tag at byte " + offset + " (not used by keys)");
        }
        int first = der[offset + 1] & 0xff;
        int start = offset + 2;
        long length = first;
        if (first >= 0x80) {
            int bytes = first & 0x7f;
            if (bytes == 0 || bytes > 4) {
                throw new IllegalArgumentException("der: length of " + bytes + " bytes at byte " + offset
                        + " (expected: definite, at most 4)");
            }
            if (start + bytes > limit) {
                throw new IllegalArgumentException("der: truncated length at byte " + offset);
            }
            length = 0;
            for (int i = 0; i < bytes; i++) {
                length = (length << 8) | (der[start + i] & 0xff);
            }
            start += bytes;
        }
        if (start + length > limit) {
            throw new IllegalArgumentException("der: element at byte " + offset + " claims " + length + " bytes, "
                    + Math.max(0, limit - start) + " left");
        }
        return new Element(der, tag, offset, start, (int) length);
    }

    /**
     * One element of a DER buffer: its tag and where its contents lie.
     *
     * @param der the whole buffer
     * @param tag the identifier octet
     * @param offset where the element (its tag) starts
     * @param start where its contents start
     * @param length the contents' length
     */
    public record Element(byte[] der, int tag, int offset, int start, int length) {

        /** The offset just after this element. */
        public int end() {
            return start + length;
        }

        /** The whole element, tag and length included. */
        public byte[] encoded() {
            return Arrays.copyOfRange(der, offset, end());
        }

        public byte[] contents() {
            return Arrays.copyOfRange(der, start, end());
        }

        /** The first element inside this constructed one. */
        public Element first() {
            return child(start);
        }

        /** The element after this one, inside {@code parent}; null at its end. */
        public Element next(Element parent) {
            return end() < parent.end() ? parent.child(end()) : null;
        }

        private Element child(int at) {
            if (at >= end()) {
                throw new IllegalArgumentException("der: element at byte " + offset + " is empty");
            }
            return read(der, at, end());
        }

        /** This OBJECT IDENTIFIER's dotted form, e.g. {@code 1.2.840.10045.2.1}. */
        public String oidString() {
            expect(OID, "object identifier");
            StringBuilder out = new StringBuilder();
            long arc = 0;
            for (int i = start; i < end(); i++) {
                arc = (arc << 7) | (der[i] & 0x7f);
                if ((der[i] & 0x80) == 0) {
                    if (out.isEmpty()) { // the first two arcs share one number (X.690 §8.19.4)
                        int first = (int) Math.min(2, arc / 40);
                        out.append(first).append('.').append(arc - 40L * first);
                    } else {
                        out.append('.').append(arc);
                    }
                    arc = 0;
                }
            }
            return out.toString();
        }

        /** This element, checked to carry {@code expected}; {@code what} names it in the error. */
        public Element expect(int expected, String what) {
            if (tag != expected) {
                throw new IllegalArgumentException("der: " + what + " has tag 0x" + Integer.toHexString(tag)
                        + " (expected: 0x" + Integer.toHexString(expected) + ")");
            }
            return this;
        }
    }
}
