package io.jmesh.policy.resource;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Manifests that {@link ManifestFuzz} found mishandled, minimized. */
class ManifestRegressionTest {

    final ManifestReader reader = new ManifestReader("istio-system");

    ParsedObject one(String yaml) {
        List<ParsedObject> all = reader.read(yaml);
        assertThat(all).hasSize(1);
        return all.get(0);
    }

    @Test
    void anIntegerBeyond64BitsIsOutOfRangeAsWrittenNotWrappedIntoAValidPort() {
        // 2^64 + 81: Jackson's asLong() wrapped it to 81, a valid port, and the Service was accepted
        ParsedObject o = one("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
                + "spec: {ports: [{port: 18446744073709551697}]}\n");
        assertThat(o.accepted()).isFalse();
        assertThat(o.errors()).containsExactly(new Problems.FieldError("spec.ports[0].port",
                "18446744073709551697 is out of range (expected: 1-65535)"));
    }

    @Test
    void aGenerationJustBeyondLongIsReportedAsWrittenNotAsANegativeNumber() {
        ParsedObject o = one("apiVersion: v1\nkind: Namespace\n"
                + "metadata: {name: shop, generation: 9223372036854777807}\n");
        assertThat(o.errors()).containsExactly(new Problems.FieldError("metadata.generation",
                "9223372036854777807 is out of range (expected: 0-9223372036854775807)"));
    }

    @Test
    void anUnknownFieldWithAnEmptyNameStillHasAPath() {
        ParsedObject o = one("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n\"\": 1\n");
        assertThat(o.errors()).containsExactly(new Problems.FieldError("\"\"", "unknown field"));
        ParsedObject nested = one("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
                + "spec: {ports: [{port: 80}], \"\": x}\n");
        assertThat(nested.errors()).containsExactly(new Problems.FieldError("spec.\"\"", "unknown field"));
    }
}
