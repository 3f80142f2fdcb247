package io.jmesh.core.logging;

import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.encoder.EncoderBase;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.List;
import org.slf4j.event.KeyValuePair;

/**
 * Encodes each log event as one JSON object on one line: {@code ts}, {@code level}, {@code logger}, {@code msg},
 * then the event's SLF4J key-value pairs as top-level fields, then {@code error} with the stack trace if any.
 *
 * <p>Numbers and booleans given as key-value pairs stay JSON numbers and booleans, so log processors can sum
 * {@code bytes_sent} without parsing strings.
 */
public final class JsonEncoder extends EncoderBase<ILoggingEvent> {

    private static final JsonFactory JSON = new JsonFactory();
    private static final byte[] EMPTY = new byte[0];

    @Override
    public byte[] headerBytes() {
        return EMPTY;
    }

    @Override
    public byte[] footerBytes() {
        return EMPTY;
    }

    @Override
    public byte[] encode(ILoggingEvent event) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        write(event, out);
        return out.toByteArray();
    }

    /** Writes the event's line, newline included, to {@code out} (which is not closed). */
    void write(ILoggingEvent event, java.io.OutputStream out) {
        try (JsonGenerator g = JSON.createGenerator(out).disable(JsonGenerator.Feature.AUTO_CLOSE_TARGET)) {
            g.writeStartObject();
            g.writeStringField("ts", Instant.ofEpochMilli(event.getTimeStamp()).toString());
            g.writeStringField("level", event.getLevel().toString());
            g.writeStringField("logger", event.getLoggerName());
            g.writeStringField("msg", event.getFormattedMessage());
            List<KeyValuePair> kvs = event.getKeyValuePairs();
            if (kvs != null) {
                for (KeyValuePair kv : kvs) {
                    writeValue(g, kv.key, kv.value);
                }
            }
            IThrowableProxy error = event.getThrowableProxy();
            if (error != null) {
                g.writeStringField("error", ThrowableProxyUtil.asString(error));
            }
            g.writeEndObject();
            g.writeRaw('\n');
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void writeValue(JsonGenerator g, String key, Object value) throws IOException {
        if (value == null) {
            g.writeNullField(key);
        } else if (value instanceof Integer || value instanceof Long || value instanceof Short) {
            g.writeNumberField(key, ((Number) value).longValue());
        } else if (value instanceof Double || value instanceof Float) {
            g.writeNumberField(key, ((Number) value).doubleValue());
        } else if (value instanceof Boolean b) {
            g.writeBooleanField(key, b);
        } else {
            g.writeStringField(key, value.toString());
        }
    }
}
