package io.jmesh.core.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@link YamlTree}: regressions found by {@link YamlTreeFuzz}, each with its minimized input. */
class YamlTreeTest {

    @Test
    void anAliasInsideTheCollectionItRefersToIsRefusedNotAStackOverflow() {
        for (String cycle : List.of("self: &x [1, *x]\n", "a: &x {b: *x}\n")) {
            assertThatThrownBy(() -> YamlTree.parse(cycle))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("not valid YAML: an alias inside the collection it refers to")
                    .hasMessageContaining("line 1");
        }
    }

    @Test
    void billionLaughsAtSnakeYamlsAliasLimitIsRefusedQuicklyNotAnOutOfMemoryError() {
        String laughs = YamlTreeFuzz.laughs(2, 25); // 50 aliases, 2^25 leaves
        assertTimeoutPreemptively(Duration.ofSeconds(5), () -> assertThatThrownBy(() -> YamlTree.parse(laughs))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("not valid YAML: aliases expand to more than 100000 nodes"));
    }

    @Test
    void aliasesWithinTheBoundAreExpanded() {
        Object tree = YamlTree.parse("d: &d {port: 80}\na: *d\nb: [*d, *d]\n" + YamlTreeFuzz.laughs(3, 4));
        assertThat(tree).isInstanceOf(Map.class);
        Map<?, ?> m = (Map<?, ?>) tree;
        assertThat(m.get("a")).isEqualTo(Map.of("port", 80L));
        assertThat(m.get("b")).isEqualTo(List.of(Map.of("port", 80L), Map.of("port", 80L)));
        assertThat(YamlTreeFuzz.nodes(m.get("l4"))).isEqualTo(1 + 3 + 9 + 27 + 81 * 2);
    }

    @Test
    void escapesAndVersionNumbersOutOfRangeAreNotValidYamlRatherThanABareNumberFormatException() {
        for (String bad : List.of("a: \"\\u", "a: \"\\UFFFFFFFF\"", "a: \"\\U00110000\"",
                "%YAML 99999999999.1\n---\na: 1\n")) {
            assertThatThrownBy(() -> YamlTree.parse(bad))
                    .as(bad)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("not valid YAML: an escape sequence or %YAML version that is not a"
                            + " number in range (");
        }
    }
}
