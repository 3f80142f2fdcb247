package io.jmesh.testing.fuzz;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.Descriptors.EnumDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.BiFunction;

/**
 * Mutates a protobuf message field by field ({@link Fuzzer#mutator}): most byte-level mutants of a protobuf are no
 * longer protobuf, so they stop at the parser, while these are always well-formed and reach what reads the fields.
 * One mutation walks to a random field of a random (sub)message and sets it to a boundary or random value, clears
 * it, or adds or removes an element of a repeated field; {@code Any} fields of the given types are unpacked, mutated
 * and packed again. Values: integers at their limits and around ports, strings that are empty, long, with NUL,
 * spaces, upper case, '/' or '*', or an IP; bytes of 0, 4, 5 and 16; enum numbers this version does not know.
 */
public final class ProtoMutator {

    private static final long[] INTEGERS = {0, 1, -1, 2, 7, 80, 65535, 65536, Integer.MAX_VALUE, Integer.MIN_VALUE,
        0xFFFFFFFFL, Long.MAX_VALUE, Long.MIN_VALUE, Long.MAX_VALUE / 2 + 1};
    private static final String[] STRINGS = {"", "a", "default", "*", "/", "a/b", "10.0.0.1", "fd00::1", "/10.0.0.1",
        "UPPER", "with space", "nul\u0000", "\u00e9t\u00e9", "x".repeat(300), "spiffe://cluster.local/ns/a/sa/b",
        "cluster.local", "kube-system", "reviews.default.svc.cluster.local", "default/reviews.default.svc.cluster.local",
        "-leading", "trailing."};

    private final Message prototype;
    private final Map<String, Message> anyTypes;

    private ProtoMutator(Message prototype, Map<String, Message> anyTypes) {
        this.prototype = prototype;
        this.anyTypes = anyTypes;
    }

    /**
     * A mutator of serialized {@code prototype}s for {@link Fuzzer#mutator}: an input that does not parse comes back
     * as it is. {@code anyTypes}: the types {@code Any} fields may hold, by type URL, mutated inside.
     */
    public static BiFunction<byte[], Random, byte[]> of(Message prototype, Map<String, Message> anyTypes) {
        ProtoMutator m = new ProtoMutator(prototype, anyTypes);
        return (in, random) -> {
            try {
                Message.Builder b = m.prototype.newBuilderForType().mergeFrom(in);
                m.mutate(b, random, 0);
                return b.build().toByteArray();
            } catch (InvalidProtocolBufferException e) {
                return in;
            }
        };
    }

    private void mutate(Message.Builder b, Random r, int depth) {
        if (b instanceof Any.Builder any && anyTypes.containsKey(any.getTypeUrl()) && r.nextInt(4) != 0) {
            Message inner = anyTypes.get(any.getTypeUrl());
            try {
                Message.Builder ib = inner.newBuilderForType().mergeFrom(any.getValue());
                mutate(ib, r, depth + 1);
                any.setValue(ib.build().toByteString());
            } catch (InvalidProtocolBufferException e) {
                any.setValue(randomBytes(r));
            }
            return;
        }
        List<FieldDescriptor> fields = b.getDescriptorForType().getFields();
        if (fields.isEmpty()) {
            return;
        }
        // half the time a field that is set, mostly one holding messages: what the seed holds is where the reader's
        // paths are, and the deep ones are reached through the messages
        List<FieldDescriptor> set = r.nextBoolean() ? List.copyOf(b.getAllFields().keySet()) : List.of();
        List<FieldDescriptor> nested = set.stream().filter(x -> x.getJavaType() == FieldDescriptor.JavaType.MESSAGE
                && !x.isMapField()).toList();
        List<FieldDescriptor> from = !nested.isEmpty() && r.nextInt(3) != 0 ? nested : set.isEmpty() ? fields : set;
        FieldDescriptor f = from.get(r.nextInt(from.size()));
        if (f.isMapField()) {
            if (r.nextBoolean() || b.getRepeatedFieldCount(f) == 0) {
                Message.Builder entry = b.newBuilderForField(f);
                for (FieldDescriptor kv : entry.getDescriptorForType().getFields()) {
                    setValue(entry, kv, r, depth);
                }
                b.addRepeatedField(f, entry.build());
            } else {
                b.clearField(f);
            }
            return;
        }
        if (f.isRepeated()) {
            int n = b.getRepeatedFieldCount(f);
            int choice = r.nextInt(4);
            if (choice == 0 || n == 0) {
                b.addRepeatedField(f, value(b, f, r, depth));
            } else if (choice == 1) {
                List<?> kept = new java.util.ArrayList<>((List<?>) b.getField(f));
                kept.remove(r.nextInt(n));
                b.setField(f, kept);
            } else if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
                int i = r.nextInt(n);
                Message.Builder e = ((Message) b.getRepeatedField(f, i)).toBuilder();
                mutate(e, r, depth + 1);
                b.setRepeatedField(f, i, e.build());
            } else {
                b.setRepeatedField(f, r.nextInt(n), value(b, f, r, depth));
            }
            return;
        }
        if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE && (b.hasField(f) || r.nextBoolean())
                && depth < 8 && r.nextInt(5) != 0) {
            mutate(b.getFieldBuilder(f), r, depth + 1);
            return;
        }
        if (r.nextInt(6) == 0) {
            b.clearField(f);
            return;
        }
        setValue(b, f, r, depth);
    }

    private void setValue(Message.Builder b, FieldDescriptor f, Random r, int depth) {
        b.setField(f, value(b, f, r, depth));
    }

    private Object value(Message.Builder b, FieldDescriptor f, Random r, int depth) {
        switch (f.getJavaType()) {
            case INT:
                return (int) integer(r);
            case LONG:
                return integer(r);
            case BOOLEAN:
                return r.nextBoolean();
            case FLOAT:
                return (float) integer(r) / (1 + r.nextInt(3));
            case DOUBLE:
                return (double) integer(r) / (1 + r.nextInt(3));
            case STRING:
                return string(r);
            case BYTE_STRING:
                return randomBytes(r);
            case ENUM:
                EnumDescriptor e = f.getEnumType();
                return r.nextInt(3) == 0 && !e.isClosed()
                        ? e.findValueByNumberCreatingIfUnknown(1 + e.getValues().size() + r.nextInt(100))
                        : e.getValues().get(r.nextInt(e.getValues().size()));
            default: // MESSAGE
                Message.Builder m = b.newBuilderForField(f);
                if (depth < 8) {
                    mutate(m, r, depth + 1);
                }
                return m.build();
        }
    }

    private static long integer(Random r) {
        return r.nextInt(3) == 0 ? r.nextLong() >> r.nextInt(64) : INTEGERS[r.nextInt(INTEGERS.length)];
    }

    private static String string(Random r) {
        String s = STRINGS[r.nextInt(STRINGS.length)];
        return r.nextInt(4) == 0 ? s + STRINGS[r.nextInt(STRINGS.length)] : s;
    }

    private static ByteString randomBytes(Random r) {
        int[] sizes = {0, 4, 5, 16, 17};
        byte[] b = new byte[r.nextInt(4) == 0 ? r.nextInt(40) : sizes[r.nextInt(sizes.length)]];
        r.nextBytes(b);
        return ByteString.copyFrom(b);
    }
}
