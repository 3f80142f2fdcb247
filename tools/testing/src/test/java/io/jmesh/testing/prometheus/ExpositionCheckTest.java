package io.jmesh.testing.prometheus;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Set;
import org.junit.jupiter.api.Test;

/** The checker itself: each kind of invalid exposition it must reject, and valid ones it must pass. */
class ExpositionCheckTest {

    private static final String VALID = """
            # HELP a_total counted, with "quotes" and a \\\\ backslash
            # TYPE a_total counter
            a_total{path="/x{y}",reason="a \\"quoted\\" one"} 1.0
            a_total{path="/z",reason=""} 2.0
            # HELP b_seconds timed
            # TYPE b_seconds histogram
            b_seconds_bucket{le="0.5"} 1
            b_seconds_bucket{le="+Inf"} 2
            b_seconds_count 2
            b_seconds_sum 0.75
            """;

    @Test
    void aValidExpositionHasNoProblems() throws Exception {
        assumeTrue(ExpositionCheck.unavailableReason() == null, ExpositionCheck.unavailableReason());
        assertThat(ExpositionCheck.problems(VALID, Set.of())).isEmpty();
    }

    @Test
    void aFamilyWrittenTwiceIsAParseError() throws Exception {
        assumeTrue(ExpositionCheck.unavailableReason() == null, ExpositionCheck.unavailableReason());
        String twice = VALID + "# HELP a_total counted\n# TYPE a_total counter\na_total{path=\"/z\",reason=\"\"} 2.0\n";
        assertThat(ExpositionCheck.problems(twice, Set.of())).anyMatch(p -> p.contains("second HELP line"))
                .anyMatch(p -> p.contains("series a_total{path=\"/z\",reason=\"\"} again"));
    }

    @Test
    void aBadEscapeIsAParseError() throws Exception {
        assumeTrue(ExpositionCheck.unavailableReason() == null, ExpositionCheck.unavailableReason());
        assertThat(ExpositionCheck.problems("# HELP c x\n# TYPE c gauge\nc{v=\"\\q\"} 1\n", Set.of()))
                .singleElement().asString().contains("invalid escape sequence");
    }

    @Test
    void lintProblemsAreReportedUnlessAllowedExactly() throws Exception {
        assumeTrue(ExpositionCheck.unavailableReason() == null, ExpositionCheck.unavailableReason());
        String text = "# HELP d_milliseconds timed\n# TYPE d_milliseconds gauge\nd_milliseconds 1\n";
        assertThat(ExpositionCheck.problems(text, Set.of()))
                .containsExactly("promtool lint: d_milliseconds use base unit \"seconds\" instead of \"milliseconds\"");
        assertThat(ExpositionCheck.problems(text,
                Set.of("d_milliseconds use base unit \"seconds\" instead of \"milliseconds\""))).isEmpty();
    }

    @Test
    void splitFamiliesAndRepeatedSeriesAreFoundInEitherFormat() {
        String openMetrics = """
                # TYPE e counter
                # HELP e counted
                e_total 1.0
                e_created 1.7E9
                # TYPE f gauge
                f 1.0
                e_total 2.0
                # EOF
                """;
        assertThat(ExpositionCheck.structureProblems(openMetrics)).containsExactlyInAnyOrder(
                "line 7: family e again, after f (its samples must be together)",
                "line 7: series e_total again (first at line 3)");
    }
}
