package io.jmesh.loadtest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

class ResultTableTest {

    private final ResultTable table = new ResultTable("path", "Gbit/s", "p99 ms", "ratio")
            .row("direct TCP", 22.4, 0.05, 1.0)
            .row("haproxy pair", 9.1, 0.31, 0.41)
            .note("iperf3, one stream, 15 s per phase");

    @Test
    void rendersMarkdownWithOneLinePerRowAndNotesBelow() {
        assertThat(table.markdown()).isEqualTo("""
                | path | Gbit/s | p99 ms | ratio |
                |---|---|---|---|
                | direct TCP | 22.40 | 0.05 | 1.00 |
                | haproxy pair | 9.10 | 0.31 | 0.41 |

                iperf3, one stream, 15 s per phase
                """);
    }

    @Test
    void jsonKeepsNumbersAsNumbersAndEscapesText() throws Exception {
        ResultTable t = new ResultTable("name", "value").row("a \"quoted\"\nline", 12_345.5).row("nan", Double.NaN);
        JsonNode json = new ObjectMapper().readTree(t.json());
        assertThat(json.get("columns")).hasSize(2);
        assertThat(json.at("/rows/0/name").asText()).isEqualTo("a \"quoted\"\nline");
        assertThat(json.at("/rows/0/value").isNumber()).isTrue();
        assertThat(json.at("/rows/0/value").asDouble()).isEqualTo(12_345.5);
        assertThat(json.at("/rows/1/value").asText()).isEqualTo("NaN");
    }

    @Test
    void largeFiguresAreGroupedWithoutDecimals() {
        assertThat(ResultTable.format(12_345.678)).isEqualTo("12,346");
        assertThat(ResultTable.format(3)).isEqualTo("3");
        assertThat(ResultTable.format(null)).isEmpty();
    }

    @Test
    void aRowWithTheWrongNumberOfValuesIsRefused() {
        assertThatThrownBy(() -> table.row("only one"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("1 values (expected: 4)");
    }
}
