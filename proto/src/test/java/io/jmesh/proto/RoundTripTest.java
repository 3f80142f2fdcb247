package io.jmesh.proto;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.EnumValueDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Descriptors.FileDescriptor;
import com.google.protobuf.Descriptors.OneofDescriptor;
import com.google.protobuf.Message;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every top-level message of every file, filled with a value in every field (recursively, and each
 * oneof once with its first and once with its last member), must survive build, serialize, parse
 * with the generated class, and compare equal; re-serializing must give the same bytes.
 */
class RoundTripTest {

    private static final int MAX_DEPTH = 4;

    enum OneofChoice { FIRST, LAST }

    static Stream<Arguments> everyMessage() {
        return ProtoFiles.topLevelMessages().stream()
                .flatMap(d -> Stream.of(OneofChoice.values()).map(c -> Arguments.of(d.getFullName(), d, c)));
    }

    @ParameterizedTest(name = "{0} ({2} oneof members)")
    @MethodSource("everyMessage")
    void everyFieldSurvivesTheWire(String name, Descriptor descriptor, OneofChoice choice) throws Exception {
        Message prototype = ProtoFiles.defaultInstance(descriptor);
        Message.Builder builder = prototype.newBuilderForType();
        fill(builder, 0, choice);
        Message original = builder.build();

        byte[] bytes = original.toByteArray();
        Message parsed = prototype.getParserForType().parseFrom(bytes);

        assertThat(parsed).isInstanceOf(ProtoFiles.javaClass(descriptor));
        assertThat(parsed).isEqualTo(original);
        assertThat(parsed.getUnknownFields().asMap()).as("nothing decoded as unknown").isEmpty();
        assertThat(parsed.toByteArray()).isEqualTo(bytes);
        assertThat(parsed.getAllFields().keySet())
                .as("the filler populated every field")
                .containsAll(expectedPopulated(descriptor, choice));
    }

    @Test
    void coversEveryProtoFileOfTheModule() throws IOException {
        Path root = Path.of("src/main/proto");
        Set<String> onDisk;
        try (Stream<Path> files = Files.walk(root)) {
            onDisk = files.filter(p -> p.toString().endsWith(".proto"))
                    .map(p -> root.relativize(p).toString().replace('\\', '/'))
                    .collect(Collectors.toCollection(TreeSet::new));
        }
        Set<String> registered = ProtoFiles.ALL.stream().map(FileDescriptor::getName)
                .collect(Collectors.toCollection(TreeSet::new));

        assertThat(registered).isEqualTo(onDisk);
    }

    @Test
    void everyFileUsesOurJavaPackageAndMultipleFiles() {
        for (FileDescriptor file : ProtoFiles.ALL) {
            assertThat(file.getOptions().getJavaMultipleFiles()).as(file.getName()).isTrue();
            assertThat(file.getOptions().getJavaPackage()).as(file.getName()).startsWith("io.jmesh.proto.");
        }
    }

    @Test
    void everyKafkaPayloadStartsWithSchemaVersion() {
        List<Descriptor> payloads = List.of(
                io.jmesh.proto.config.v1.ConfigRecord.getDescriptor(),
                io.jmesh.proto.telemetry.v1.ConnectionEvent.getDescriptor(),
                io.jmesh.proto.telemetry.v1.RequestEvent.getDescriptor(),
                io.jmesh.proto.ca.v1.CertificateAudit.getDescriptor(),
                io.jmesh.proto.ca.v1.Revocation.getDescriptor());
        for (Descriptor d : payloads) {
            FieldDescriptor f = d.findFieldByNumber(1);
            assertThat(f).as(d.getFullName()).isNotNull();
            assertThat(f.getName()).as(d.getFullName()).isEqualTo("schema_version");
            assertThat(f.getType()).as(d.getFullName()).isEqualTo(FieldDescriptor.Type.UINT32);
        }
    }

    // ------------------------------------------------------------------ filler

    /** Fields the filler must have set on the top-level message (oneofs: only the chosen member). */
    private static Set<FieldDescriptor> expectedPopulated(Descriptor d, OneofChoice choice) {
        return d.getFields().stream()
                .filter(f -> isChosen(f, choice))
                .filter(f -> !(f.getJavaType() == FieldDescriptor.JavaType.ENUM && !f.isRepeated()
                        && f.getRealContainingOneof() == null && sampleEnum(f).getNumber() == 0))
                .collect(Collectors.toSet());
    }

    private static boolean isChosen(FieldDescriptor f, OneofChoice choice) {
        OneofDescriptor oneof = f.getRealContainingOneof();
        if (oneof == null) {
            return true;
        }
        FieldDescriptor chosen = choice == OneofChoice.FIRST ? oneof.getField(0) : oneof.getField(oneof.getFieldCount() - 1);
        return chosen.equals(f);
    }

    private static void fill(Message.Builder b, int depth, OneofChoice choice) {
        for (FieldDescriptor f : b.getDescriptorForType().getFields()) {
            if (!isChosen(f, choice)) {
                continue;
            }
            if (f.isMapField()) {
                Message.Builder entry = b.newBuilderForField(f);
                fill(entry, depth + 1, choice);
                b.addRepeatedField(f, entry.build());
            } else if (f.isRepeated()) {
                b.addRepeatedField(f, sample(b, f, depth, 0, choice));
                b.addRepeatedField(f, sample(b, f, depth, 1, choice));
            } else {
                b.setField(f, sample(b, f, depth, 0, choice));
            }
        }
    }

    private static Object sample(Message.Builder parent, FieldDescriptor f, int depth, int i, OneofChoice choice) {
        switch (f.getJavaType()) {
            case INT: return 7 + i;
            case LONG: return 42L + i;
            case FLOAT: return 1.5f + i;
            case DOUBLE: return 2.5 + i;
            case BOOLEAN: return true;
            case STRING: return f.getName() + "-" + i;
            case BYTE_STRING: return ByteString.copyFrom(new byte[] {10, 0, 0, (byte) (1 + i)});
            case ENUM: return sampleEnum(f);
            case MESSAGE:
                Message.Builder nested = parent.newBuilderForField(f);
                if (depth < MAX_DEPTH) {
                    fill(nested, depth + 1, choice);
                }
                return nested.build();
            default: throw new AssertionError(f.getJavaType());
        }
    }

    /** The last declared value: non-zero whenever the enum has more than one value. */
    private static EnumValueDescriptor sampleEnum(FieldDescriptor f) {
        List<EnumValueDescriptor> values = f.getEnumType().getValues();
        return values.get(values.size() - 1);
    }
}
