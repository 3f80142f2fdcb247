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
}
