package io.jmesh.policy.resource;

import io.jmesh.testing.fuzz.NameLookups;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * IP fields are read as literals, never resolved: {@link ManifestFuzz} found that {@code address: 127.0.10.} (and
 * anything else of digits, dots and colons that the JDK cannot read as a literal) made {@link Names#ipOrNull} send
 * a DNS query for it. {@link NameLookups} fails the test on any lookup.
 */
class IpLiteralOnlyTest {

    static final List<String> NOT_LITERALS = List.of("127.0.10.", "999.1.1.1", "1..2.3", ".1.2.3", "1.2.3.4.5",
            ".:1", "1.2.3.4:", "::1.2.3.999");

    final ManifestReader reader = new ManifestReader("istio-system");

    @BeforeAll
    static void watch() {
        NameLookups.install();
    }

    @AfterAll
    static void unwatch() {
        NameLookups.uninstall();
    }

    @Test
    void notALiteralIsRejectedWithoutALookup() throws Exception {
        for (String value : NOT_LITERALS) {
            assertThat(NameLookups.forbidden(() -> Names.ipOrNull(value))).as(value).isNull();
            ParsedObject o = NameLookups.forbidden(() -> reader.read("apiVersion: networking.istio.io/v1\n"
                    + "kind: WorkloadEntry\nmetadata: {name: a}\nspec: {address: '" + value + "'}\n").get(0));
            assertThat(o.errors()).as(value).containsExactly(
                    new Problems.FieldError("spec.address", "'" + value + "' is not an IP address"));
            ParsedObject cidr = NameLookups.forbidden(() -> reader.read("apiVersion: security.istio.io/v1\n"
                    + "kind: AuthorizationPolicy\nmetadata: {name: p, namespace: ns}\n"
                    + "spec: {rules: [{from: [{source: {ipBlocks: ['" + value + "/8']}}]}]}\n").get(0));
            assertThat(cidr.errors()).as(value).containsExactly(new Problems.FieldError(
                    "spec.rules[0].from[0].source.ipBlocks[0]", "'" + value + "/8' is not an IP address or CIDR"));
            ParsedObject gateway = NameLookups.forbidden(() -> reader.read("apiVersion: gateway.networking.k8s.io/v1\n"
                    + "kind: Gateway\nmetadata: {name: ew, namespace: ns, labels: {topology.istio.io/network: n}}\n"
                    + "spec: {gatewayClassName: istio-east-west, listeners: [{name: mesh, port: 15008,"
                    + " protocol: HBONE}], addresses: [{value: '" + value + "'}]}\n").get(0));
            assertThat(gateway.errors()).as(value).containsExactly(
                    new Problems.FieldError("spec.addresses[0].value", "'" + value + "' is not an IP address"));
        }
    }

    @Test
    void literalsStillRead() throws Exception {
        for (String value : List.of("127.0.10.5", "10.0.0.0", "255.255.255.255", "fd00::6", "::1", "::ffff:1.2.3.4")) {
            assertThat(NameLookups.forbidden(() -> Names.ipOrNull(value))).as(value).isNotNull();
        }
    }
}
