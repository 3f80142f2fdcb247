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

    @Test
    void anAddressWithALeadingZeroOctetIsNoAddress() {
        // the JDK read 010.0.0.1 as 10.0.0.1, where inet_aton reads 8.0.0.1
        for (String value : List.of("010.0.0.1", "10.0.0.01", "::ffff:010.0.0.1")) {
            ParsedObject o = one("apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: a}\n"
                    + "spec: {address: '" + value + "'}\n");
            assertThat(o.errors()).as(value).containsExactly(
                    new Problems.FieldError("spec.address", "'" + value + "' is not an IP address"));
            ParsedObject cidr = one("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
                    + "metadata: {name: p, namespace: ns}\n"
                    + "spec: {rules: [{from: [{source: {ipBlocks: ['" + value + "/8']}}]}]}\n");
            assertThat(cidr.errors()).as(value).containsExactly(new Problems.FieldError(
                    "spec.rules[0].from[0].source.ipBlocks[0]", "'" + value + "/8' is not an IP address or CIDR"));
        }
    }

    @Test
    void portsWrittenAsTextArePlainDigits() {
        // what Integer.parseInt would also read as 80: a sign, another script's digits, spaces
        for (String port : List.of("+80", "\u0668\u0660", " 80", "-0")) {
            ParsedObject op = one("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
                    + "metadata: {name: p, namespace: ns}\nspec: {rules: [{to: [{operation: {ports: ['" + port
                    + "']}}], when: [{key: destination.port, values: ['" + port + "']}]}]}\n");
            assertThat(op.errors()).as(port).containsExactly(
                    new Problems.FieldError("spec.rules[0].to[0].operation.ports[0]",
                            "'" + port + "' is not a port number (expected: 0-65535)"),
                    new Problems.FieldError("spec.rules[0].when[0].values[0]",
                            "'" + port + "' is not a port number (expected: 0-65535)"));
            ParsedObject pa = one("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
                    + "metadata: {name: p, namespace: ns}\nspec: {selector: {matchLabels: {app: a}},"
                    + " portLevelMtls: {'" + port + "': {mode: STRICT}}}\n");
            assertThat(pa.errors()).as(port).containsExactly(new Problems.FieldError("spec.portLevelMtls." + port,
                    "'" + port + "' is not a port number (expected: 1-65535)"));
            ParsedObject svc = one("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
                    + "spec: {ports: [{port: '" + port + "'}]}\n");
            assertThat(svc.accepted()).as(port).isFalse();
            assertThat(svc.errors()).as(port).extracting(Problems.FieldError::path)
                    .containsExactly("spec.ports[0].port");
        }
    }
}
