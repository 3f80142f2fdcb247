package io.jmesh.core.logging;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.LoggingEvent;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.slf4j.event.KeyValuePair;

class JsonEncoderTest {

    private final ObjectMapper json = new ObjectMapper();

    @Test
    void oneJsonObjectPerLineWithTypedKeyValues() throws Exception {
        LoggerContext ctx = new LoggerContext();
        LoggingEvent e = new LoggingEvent("x", ctx.getLogger("access"), Level.INFO,
                "connection complete \"quoted\"\nnext", null, null);
        e.setKeyValuePairs(List.of(new KeyValuePair("src.addr", "127.0.10.11:4711"),
                new KeyValuePair("bytes_sent", 1024L), new KeyValuePair("mtls", true),
                new KeyValuePair("error", null)));
        byte[] bytes = new JsonEncoder().encode(e);
        String line = new String(bytes, StandardCharsets.UTF_8);
        assertThat(line).endsWith("\n");
        assertThat(line.trim()).doesNotContain("\n");
        JsonNode n = json.readTree(line);
        assertThat(n.get("level").asText()).isEqualTo("INFO");
        assertThat(n.get("logger").asText()).isEqualTo("access");
        assertThat(n.get("msg").asText()).isEqualTo("connection complete \"quoted\"\nnext");
        assertThat(n.get("src.addr").asText()).isEqualTo("127.0.10.11:4711");
        assertThat(n.get("bytes_sent").isNumber()).isTrue();
        assertThat(n.get("mtls").asBoolean()).isTrue();
        assertThat(n.get("error").isNull()).isTrue();
        assertThat(n.get("ts").asText()).endsWith("Z");
    }

    @Test
    void stackTracesTravelInsideTheLine() throws Exception {
        LoggerContext ctx = new LoggerContext();
        LoggingEvent e = new LoggingEvent("x", ctx.getLogger("x"), Level.ERROR, "failed", new IllegalStateException("why"),
                null);
        JsonNode n = json.readTree(new JsonEncoder().encode(e));
        assertThat(n.get("error").asText()).contains("IllegalStateException: why");
    }

    @Test
    void levelsCanBeChangedAtRuntime() {
        JsonLogging.setLevel("io.jmesh.test", "debug");
        assertThat(JsonLogging.levels()).containsEntry("io.jmesh.test", "DEBUG");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> JsonLogging.setLevel("x", "loud"))
                .hasMessageContaining("expected: trace, debug, info, warn, error, off");
    }

    /** The cached per-second text gives exactly what {@code Instant.toString} gives, fractions included. */
    @Test
    void timestampsAreInstantsTextForEveryMillisecond() {
        JsonEncoder.Timestamps ts = new JsonEncoder.Timestamps();
        java.util.Random r = new java.util.Random(42);
        long[] edges = {0, 1, 10, 100, 999, 1000, 1001, -1, -999, -1000, -1001, 1_765_000_000_000L,
            1_765_000_000_999L, 253_402_300_799_999L};
        for (long ms : edges) {
            assertThat(ts.format(ms)).isEqualTo(java.time.Instant.ofEpochMilli(ms).toString());
        }
        long t = 1_765_000_000_000L;
        for (int i = 0; i < 20_000; i++) {
            t += r.nextInt(3) == 0 ? r.nextInt(5000) : r.nextInt(3);
            assertThat(ts.format(t)).isEqualTo(java.time.Instant.ofEpochMilli(t).toString());
        }
    }

    /** A line that fails midway leaves nothing the next line depends on: it is whole and parses. */
    @Test
    void aLineAfterOneThatFailedIsWhole() throws Exception {
        LoggerContext ctx = new LoggerContext();
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        JsonEncoder encoder = new JsonEncoder();
        JsonEncoder.Lines lines = encoder.new Lines(out);
        LoggingEvent bad = new LoggingEvent("x", ctx.getLogger("access"), Level.INFO, "bad", null, null);
        bad.setKeyValuePairs(List.of(new KeyValuePair("ok", "1"), new KeyValuePair("boom", new Object() {
            @Override
            public String toString() {
                throw new IllegalStateException("no text");
            }
        })));
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> lines.write(bad))
                .isInstanceOf(IllegalStateException.class);
        out.reset(); // what the appender does: drop the failed line's bytes
        LoggingEvent good = new LoggingEvent("x", ctx.getLogger("access"), Level.INFO, "good", null, null);
        lines.write(good);
        lines.write(good);
        String[] written = out.toString(StandardCharsets.UTF_8).split("\n");
        assertThat(written).hasSize(2);
        for (String line : written) {
            assertThat(json.readTree(line).get("msg").asText()).isEqualTo("good");
        }
    }
}
