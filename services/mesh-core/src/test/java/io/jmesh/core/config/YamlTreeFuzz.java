package io.jmesh.core.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import io.jmesh.testing.fuzz.Fuzzer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@link YamlTree#parse} against mutated YAML text, anchors and aliases included (seeds: ordinary configuration
 * documents, a reused anchor, a small "laughs" document, and two hostile ones: a collection that contains itself
 * and a billion-laughs document at SnakeYAML's alias limit).
 *
 * <p>Oracle: every input either parses into the documented tree (insertion-ordered maps with string keys, lists,
 * strings, longs, booleans, nulls), no larger than the text plus {@link YamlTree#MAX_ALIAS_EXPANSION} nodes, or is
 * refused with an {@link IllegalArgumentException} saying "not valid YAML: ..."; never another exception
 * (StackOverflowError, OutOfMemoryError, SnakeYAML's own), and within {@link #SLOW} per input.
 */
@Tag("fuzz")
class YamlTreeFuzz {

    static final Duration SLOW = Duration.ofSeconds(2);

    static byte[][] seeds() {
        return new byte[][] {
            utf8("""
                logLevel: info
                drainDeadline: 5s
                admin: {host: 127.0.0.1, port: 15014}
                server:
                  port: 15012
                  mode: strict
                  upstreams: [a, b]
                auth:
                  bootstrapToken: ""
                """),
            utf8("""
                # comment
                defaults: &d {port: 80, tls: true, hosts: [a.example, 'b.example']}
                first: *d
                second: [*d, *d, {port: -1, name: "quoted \\u00e9 \\t"}]
                multi: |
                  line one
                  line two
                folded: >-
                  folded
                  text
                """),
            utf8("- 1\n- -2\n- +3\n- 010\n- 0x1F\n- 1.5e3\n- ~\n- null\n- TRUE\n- yes\n- 2026-01-01\n- '07'\n"),
            utf8("a: &a [x, y]\nb: &b [*a, *a, *a]\nc: &c [*b, *b, *b]\nd: [*c, *c]\n"),
            utf8("self: &x [1, *x]\n"),
            utf8(laughs(2, 25)),
        };
    }

    /**
     * A "billion laughs" document: {@code levels} anchored lists, each holding {@code fan} aliases of the previous
     * one; {@code fan ^ levels} leaves from {@code fan * levels} aliases.
     */
    static String laughs(int fan, int levels) {
        StringBuilder sb = new StringBuilder("l0: &l0 [lol]\n");
        for (int i = 1; i <= levels; i++) {
            sb.append('l').append(i).append(": &l").append(i).append(" [");
            for (int k = 0; k < fan; k++) {
                sb.append(k == 0 ? "" : ", ").append("*l").append(i - 1);
            }
            sb.append("]\n");
        }
        return sb.toString();
    }

    @Test
    void everyTextParsesIntoABoundedTreeOrIsRefusedAsInvalidYaml() {
        assertTimeoutPreemptively(budget(), () -> Fuzzer.named("yaml-tree", 4096).seeds(seeds()).run(input -> {
            String text = new String(input, StandardCharsets.UTF_8);
            long start = System.nanoTime();
            Object tree = null;
            IllegalArgumentException refused = null;
            try {
                tree = YamlTree.parse(text);
            } catch (IllegalArgumentException e) {
                refused = e;
            }
            assertThat(Duration.ofNanos(System.nanoTime() - start)).as("time for one input").isLessThan(SLOW);
            if (refused != null) {
                assertThat(refused.getMessage()).startsWith("not valid YAML: ");
                assertThat(refused.getMessage().length()).isGreaterThan("not valid YAML: ".length());
                return;
            }
            assertThat(nodes(tree)).as("nodes in the tree")
                    .isLessThanOrEqualTo(text.length() + 1L + YamlTree.MAX_ALIAS_EXPANSION);
        }), "a fuzz input hung; replay with the printed -Dfuzz.seed");
    }

    /** Checks the tree's types and counts its nodes. */
    static long nodes(Object v) {
        if (v instanceof Map<?, ?> m) {
            assertThat(m).isInstanceOf(java.util.LinkedHashMap.class);
            long n = 1;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                assertThat(e.getKey()).isInstanceOf(String.class);
                n += nodes(e.getValue());
            }
            return n;
        }
        if (v instanceof List<?> l) {
            long n = 1;
            for (Object item : l) {
                n += nodes(item);
            }
            return n;
        }
        assertThat(v == null || v instanceof String || v instanceof Long || v instanceof Boolean)
                .as("a scalar of a documented type: %s", v == null ? null : v.getClass()).isTrue();
        return 1;
    }

    /** The whole run: the fuzzer's own bound plus a margin, so a hanging input fails instead of stalling. */
    static Duration budget() {
        return Duration.ofSeconds(Long.getLong("fuzz.seconds", 20) + TimeUnit.MINUTES.toSeconds(1));
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
