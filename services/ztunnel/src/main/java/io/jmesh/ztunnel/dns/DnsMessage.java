package io.jmesh.ztunnel.dns;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.util.List;
import java.util.Locale;

/**
 * The DNS wire format (RFC 1035) as far as the proxy needs it: reading a query's header and its one question, and
 * writing the answers it gives itself. Forwarded queries and upstream answers are relayed as they are, so EDNS,
 * DNSSEC and every record type pass through untouched.
 */
final class DnsMessage {

    static final int HEADER = 12;
    /** Largest UDP answer without EDNS (RFC 1035 4.2.1); a larger local answer is truncated (TC) for TCP. */
    static final int MAX_UDP = 512;
    /** Largest message over TCP: its length prefix has two bytes (RFC 1035 4.2.2). */
    static final int MAX_TCP = 0xFFFF;

    static final int TYPE_A = 1;
    static final int TYPE_CNAME = 5;
    static final int TYPE_AAAA = 28;
    static final int CLASS_IN = 1;

    static final int NOERROR = 0;
    static final int FORMERR = 1;
    static final int SERVFAIL = 2;
    static final int NOTIMP = 4;
    /** RFC 6891's 12-bit RCODE 16: the OPT record carries its upper 8 bits. */
    static final int BADVERS = 16;

    private static final int QR = 0x8000;
    private static final int AA = 0x0400;
    private static final int TC = 0x0200;
    private static final int RD = 0x0100;
    private static final int RA = 0x0080;

    private DnsMessage() {}

    /** Why a message was not answered as a query; {@link #reason} is the metric label. */
    static final class Malformed extends Exception {
        private final String reason;
        /** Whether the header could be read, so a FORMERR answer can carry the query's id. */
        private final boolean answerable;

        Malformed(String reason, String message, boolean answerable) {
            super(message, null, false, false);
            this.reason = reason;
            this.answerable = answerable;
        }

        String reason() {
            return reason;
        }

        boolean answerable() {
            return answerable;
        }
    }

    /**
     * A query's header and question.
     *
     * @param name the question's name in lower case without the final dot ({@code ""} for the root); null when a
     *     label holds a dot or a byte outside printable ASCII (such a name is forwarded, never answered here)
     * @param questionEnd offset just past the question: {@code [12, questionEnd)} is echoed in answers
     * @param ednsPayload the UDP payload size of the query's EDNS OPT record (RFC 6891), 0 without one
     * @param dnssecOk the OPT record's DO bit
     * @param ednsVersion the OPT record's EDNS version (0 without one)
     */
    record Query(int id, int opcode, boolean recursionDesired, String name, int type, int qclass, int questionEnd,
            int ednsPayload, boolean dnssecOk, int ednsVersion) {}

    /** The EDNS payload size the proxy's own UDP answers use at most, whatever larger size a client offers. */
    static final int MAX_EDNS_UDP = 4096;
    static final int TYPE_OPT = 41;

    /** Reads the header and the single question of {@code msg} (from its reader index; nothing is consumed). */
    static Query parse(ByteBuf msg) throws Malformed {
        int base = msg.readerIndex();
        int len = msg.readableBytes();
        if (len < HEADER) {
            throw new Malformed("too_short", len + " bytes (expected: a 12-byte header and a question)", false);
        }
        int id = msg.getUnsignedShort(base);
        int flags = msg.getUnsignedShort(base + 2);
        if ((flags & QR) != 0) {
            throw new Malformed("not_a_query", "QR bit set: a response, not a query", false);
        }
        int opcode = (flags >> 11) & 0xF;
        int questions = msg.getUnsignedShort(base + 4);
        if (questions != 1) {
            throw new Malformed("question_count", "QDCOUNT " + questions + " (expected: 1)", true);
        }
        StringBuilder name = new StringBuilder();
        boolean plain = true;
        int at = base + HEADER;
        int nameBytes = 0;
        while (true) {
            if (at >= base + len) {
                throw new Malformed("bad_question", "question name runs past the end of the message", true);
            }
            int labelLength = msg.getUnsignedByte(at++);
            if (labelLength == 0) {
                break;
            }
            if ((labelLength & 0xC0) != 0) {
                // a compression pointer in the first name could only point into the header
                throw new Malformed("bad_question", "label length byte 0x" + Integer.toHexString(labelLength)
                        + " in the question name (expected: 0..63, no compression)", true);
            }
            nameBytes += labelLength + 1;
            if (nameBytes > 254) {
                throw new Malformed("bad_question", "question name longer than 255 bytes", true);
            }
            if (at + labelLength > base + len) {
                throw new Malformed("bad_question", "question label runs past the end of the message", true);
            }
            if (name.length() > 0) {
                name.append('.');
            }
            for (int i = 0; i < labelLength; i++) {
                int c = msg.getUnsignedByte(at + i);
                if (c <= ' ' || c >= 0x7F || c == '.') {
                    plain = false;
                }
                name.append((char) c);
            }
            at += labelLength;
        }
        if (at + 4 > base + len) {
            throw new Malformed("bad_question", "question type and class missing", true);
        }
        int type = msg.getUnsignedShort(at);
        int qclass = msg.getUnsignedShort(at + 2);
        at += 4;
        int questionEnd = at - base;
        // EDNS: an OPT record (root name, type 41, class = UDP payload size) first in the additional section
        int ednsPayload = 0;
        boolean dnssecOk = false;
        int ednsVersion = 0;
        if (msg.getUnsignedShort(base + 6) == 0 && msg.getUnsignedShort(base + 8) == 0
                && msg.getUnsignedShort(base + 10) > 0 && at + 11 <= base + len && msg.getUnsignedByte(at) == 0
                && msg.getUnsignedShort(at + 1) == TYPE_OPT) {
            ednsPayload = Math.max(MAX_UDP, msg.getUnsignedShort(at + 3));
            ednsVersion = msg.getUnsignedByte(at + 6); // the OPT "TTL": extended RCODE, version, flags
            dnssecOk = (msg.getUnsignedShort(at + 7) & 0x8000) != 0;
        }
        return new Query(id, opcode, (flags & RD) != 0, plain ? name.toString().toLowerCase(Locale.ROOT) : null,
                type, qclass, questionEnd, ednsPayload, dnssecOk, ednsVersion);
    }

    static final int TYPE_NS = 2;
    static final int TYPE_SOA = 6;
    static final int NXDOMAIN = 3;
    static final int REFUSED = 5;

    /**
     * Whether an upstream answer sends the query on to the next server, as hickory's name server pool (Istio's
     * forwarder) judges it: the reason (the metric label), or null when {@code answer} is the answer. Moved on from:
     * an error RCODE (SERVFAIL, REFUSED, FORMERR, NOTIMP, ... and EDNS's extended ones), and a negative answer
     * (NXDOMAIN, or NOERROR without records: NODATA) that is not truncated; in both cases only when the authority
     * section holds no SOA and no NS, the zone's own word. The answer's question is known to be the query's (it
     * ends at {@code questionEnd}). An answer whose records cannot be read is the answer, relayed as it is.
     */
    static String retryReason(ByteBuf answer, int questionEnd) {
        int base = answer.readerIndex();
        int end = base + answer.readableBytes();
        if (answer.readableBytes() < questionEnd || answer.getUnsignedShort(base + 4) != 1) {
            return null;
        }
        int flags = answer.getUnsignedShort(base + 2);
        if ((flags & TC) != 0) {
            return null; // the client asks again over TCP
        }
        int answers = answer.getUnsignedShort(base + 6);
        int authority = answer.getUnsignedShort(base + 8);
        int additional = answer.getUnsignedShort(base + 10);
        int at = base + questionEnd;
        boolean zoneSpoke = false;
        int extendedRcode = 0;
        for (int i = 0; i < answers + authority + additional; i++) { // at most 3 * 65,535 records
            at = skipName(answer, at, end);
            if (at < 0 || at + 10 > end) {
                return null;
            }
            int type = answer.getUnsignedShort(at);
            int dataEnd = at + 10 + answer.getUnsignedShort(at + 8);
            if (dataEnd > end) {
                return null;
            }
            if (i >= answers && i < answers + authority && (type == TYPE_SOA || type == TYPE_NS)) {
                zoneSpoke = true;
            } else if (i >= answers + authority && type == TYPE_OPT) {
                extendedRcode = answer.getUnsignedByte(at + 4); // the OPT "TTL": its first byte
            }
            at = dataEnd;
        }
        int rcode = extendedRcode << 4 | flags & 0xF;
        String reason = switch (rcode) {
            case NOERROR -> answers == 0 ? "nodata" : null;
            case NXDOMAIN -> answers == 0 ? "nxdomain" : null; // with records: a CNAME chain ending nowhere
            case SERVFAIL -> "servfail";
            case REFUSED -> "refused";
            // FORMERR, NOTIMP, YXDOMAIN, YXRRSET, NXRRSET, NOTAUTH, NOTZONE; BADVERS/BADSIG .. BADCOOKIE
            default -> rcode <= 10 || rcode >= 16 && rcode <= 23 ? "rcode" : null;
        };
        return zoneSpoke ? null : reason;
    }

    /**
     * Whether a relayed upstream answer counts as a failure in {@code istio_dns_upstream_failures_total}, as Istio's
     * forwarder counts it: hickory's {@code lookup} fails every answer without records, so an NXDOMAIN or a NODATA
     * (the zone's SOA or not) and an error RCODE count, an answer with records does not, nor a truncated one (the
     * client asks again over TCP, a query counted on its own). Reads the header only: an error RCODE carried in EDNS
     * alone (BADVERS and up, header RCODE 0) counts only when the answer has no records, which it never has.
     */
    static boolean failedLookup(ByteBuf answer) {
        if (answer.readableBytes() < HEADER) {
            return true;
        }
        int base = answer.readerIndex();
        int flags = answer.getUnsignedShort(base + 2);
        if ((flags & TC) != 0) {
            return false;
        }
        return (flags & 0xF) != NOERROR || answer.getUnsignedShort(base + 6) == 0;
    }

    /**
     * Sets the AA bit of an NXDOMAIN answer that {@link #retryReason} takes as final (the zone's SOA or NS in its
     * authority section, or records); true when it did. Anything else, a query or a message whose question cannot
     * be read included, is left as it is.
     */
    static boolean markFinalNxdomain(ByteBuf msg) {
        if (msg.readableBytes() < HEADER) {
            return false;
        }
        int base = msg.readerIndex();
        int flags = msg.getUnsignedShort(base + 2);
        if ((flags & QR) == 0 || (flags & 0xF) != NXDOMAIN || (flags & (AA | TC)) != 0) {
            return false;
        }
        int end = base + msg.readableBytes();
        int at = skipName(msg, base + HEADER, end);
        if (at < 0 || at + 4 > end || retryReason(msg, at + 4 - base) != null) {
            return false;
        }
        msg.setShort(base + 2, flags | AA);
        return true;
    }

    /** Offset just past the (possibly compressed) name at {@code at}, or -1 when it runs past {@code end}. */
    private static int skipName(ByteBuf msg, int at, int end) {
        for (int labels = 0; labels < 128 && at < end; labels++) { // a name has at most 127 labels
            int length = msg.getUnsignedByte(at);
            if (length == 0) {
                return at + 1;
            }
            if ((length & 0xC0) == 0xC0) {
                return at + 2 <= end ? at + 2 : -1; // a pointer ends the name
            }
            if ((length & 0xC0) != 0) {
                return -1;
            }
            at += 1 + length;
        }
        return -1;
    }

    /** The query id of a message of at least two bytes, or -1. */
    static int id(ByteBuf msg) {
        return msg.readableBytes() < 2 ? -1 : msg.getUnsignedShort(msg.readerIndex());
    }

    /** An answer without records: {@code rcode} and, when {@code q} is known, its question echoed. */
    static ByteBuf error(ByteBufAllocator alloc, ByteBuf query, Query q, int id, int rcode) {
        ByteBuf out = alloc.buffer(q == null ? HEADER : q.questionEnd());
        boolean rd = q == null ? false : q.recursionDesired();
        int opcode = q == null ? 0 : q.opcode();
        header(out, id, flags(opcode, false, false, rd, rcode), q == null ? 0 : 1, 0);
        if (q != null) {
            out.writeBytes(query, query.readerIndex() + HEADER, q.questionEnd() - HEADER);
        }
        return out;
    }

    /**
     * BADVERS (RFC 6891 6.1.3) to an EDNS query of a version above 0: the question echoed and an OPT record of
     * version 0 whose extended RCODE holds the upper bits of 16 (the header's RCODE holds the lower ones, 0).
     */
    static ByteBuf badVersion(ByteBufAllocator alloc, ByteBuf query, Query q) {
        ByteBuf out = alloc.buffer(q.questionEnd() + 11);
        header(out, q.id(), flags(q.opcode(), false, false, q.recursionDesired(), BADVERS & 0xF), 1, 0);
        out.writeBytes(query, query.readerIndex() + HEADER, q.questionEnd() - HEADER);
        out.writeByte(0).writeShort(TYPE_OPT).writeShort(Math.min(q.ednsPayload(), MAX_EDNS_UDP))
                .writeByte(BADVERS >> 4).writeByte(0).writeShort(q.dnssecOk() ? 0x8000 : 0).writeShort(0);
        out.setShort(10, 1);
        return out;
    }

    /**
     * The proxy's own authoritative answer to {@code q}: a CNAME from the asked name to {@code canonical} when it is
     * not null, then one A or AAAA record per address, named by the canonical name (else the asked name). The
     * records that do not fit (512 bytes over UDP, 65,535 over TCP: the length prefix) are left out and TC is set,
     * so the client asks again over TCP; a CNAME that does not fit leaves the answer without records.
     */
    static ByteBuf answer(ByteBufAllocator alloc, ByteBuf query, Query q, String canonical,
            List<InetAddress> addresses, int ttl, boolean udp) {
        ByteBuf out = alloc.buffer(MAX_UDP);
        header(out, q.id(), 0, 1, 0); // flags and counts are set once the records are written
        out.writeBytes(query, query.readerIndex() + HEADER, q.questionEnd() - HEADER);
        boolean edns = q.ednsPayload() > 0;
        // an EDNS query gets an OPT record back (last, 11 bytes) and as much over UDP as it offers, up to 4 KiB
        int limit = (udp ? edns ? Math.min(q.ednsPayload(), MAX_EDNS_UDP) : MAX_UDP : MAX_TCP) - (edns ? 11 : 0);
        int answers = 0;
        int owner = 0xC000 | HEADER; // a pointer to the question's name
        boolean truncated = false;
        if (canonical != null && out.writerIndex() + 12 + canonical.length() + 2 > limit) {
            truncated = true; // the question is at most 271 bytes, so this is UDP only
            addresses = List.of();
        } else if (canonical != null) {
            out.writeShort(owner).writeShort(TYPE_CNAME).writeShort(CLASS_IN).writeInt(ttl);
            int lengthAt = out.writerIndex();
            out.writeShort(0);
            int target = out.writerIndex();
            writeName(out, canonical);
            out.setShort(lengthAt, out.writerIndex() - target);
            answers++;
            owner = 0xC000 | target;
        }
        for (InetAddress a : addresses) {
            byte[] raw = a.getAddress();
            int recordBytes = 12 + raw.length;
            if (out.writerIndex() + recordBytes > limit) {
                truncated = true;
                break;
            }
            out.writeShort(owner).writeShort(a instanceof Inet4Address ? TYPE_A : TYPE_AAAA).writeShort(CLASS_IN)
                    .writeInt(ttl).writeShort(raw.length).writeBytes(raw);
            answers++;
        }
        if (edns) {
            int payload = Math.min(q.ednsPayload(), MAX_EDNS_UDP);
            out.writeByte(0).writeShort(TYPE_OPT).writeShort(payload).writeByte(0).writeByte(0)
                    .writeShort(q.dnssecOk() ? 0x8000 : 0).writeShort(0);
            out.setShort(10, 1);
        }
        out.setShort(2, flags(q.opcode(), true, truncated, q.recursionDesired(), NOERROR));
        out.setShort(6, answers);
        return out;
    }

    private static int flags(int opcode, boolean authoritative, boolean truncated, boolean rd, int rcode) {
        return QR | (opcode << 11) | (authoritative ? AA : 0) | (truncated ? TC : 0) | (rd ? RD : 0) | RA | rcode;
    }

    private static void header(ByteBuf out, int id, int flags, int questions, int answers) {
        out.writeShort(id).writeShort(flags).writeShort(questions).writeShort(answers).writeShort(0).writeShort(0);
    }

    /** {@code name} (dotted, no final dot, labels already valid) in wire form. */
    static void writeName(ByteBuf out, String name) {
        if (!name.isEmpty()) {
            for (String label : name.split("\\.")) {
                out.writeByte(label.length());
                for (int i = 0; i < label.length(); i++) {
                    out.writeByte(label.charAt(i));
                }
            }
        }
        out.writeByte(0);
    }

    /** The metric label of a query type: Istio's lower-case names for the common ones, else "other". */
    static String typeLabel(int type) {
        return switch (type) {
            case 1 -> "a";
            case 2 -> "ns";
            case 5 -> "cname";
            case 6 -> "soa";
            case 12 -> "ptr";
            case 15 -> "mx";
            case 16 -> "txt";
            case 28 -> "aaaa";
            case 33 -> "srv";
            case 35 -> "naptr";
            case 64 -> "svcb";
            case 65 -> "https";
            case 255 -> "any";
            case 257 -> "caa";
            default -> "other";
        };
    }
}
