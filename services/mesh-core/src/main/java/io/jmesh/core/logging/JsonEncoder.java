package io.jmesh.core.logging;

import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.encoder.EncoderBase;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
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
    void write(ILoggingEvent event, OutputStream out) {
        try (JsonGenerator g = JSON.createGenerator(out).disable(JsonGenerator.Feature.AUTO_CLOSE_TARGET)) {
            writeLine(g, event);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * A writer of lines onto one stream that keeps its generator from line to line (creating one per line was a
     * third of the log writer's time). Each line reaches {@code out} whole before {@link #write} returns; after a
     * line that failed midway the next starts on a fresh generator. Single-threaded.
     */
    final class Lines {
        private final OutputStream out;
        private JsonGenerator g;

        Lines(OutputStream out) {
            this.out = out;
        }

        void write(ILoggingEvent event) {
            try {
                if (g == null) {
                    g = JSON.createGenerator(out).disable(JsonGenerator.Feature.AUTO_CLOSE_TARGET);
                    g.setRootValueSeparator(null);
                }
                writeLine(g, event);
                g.flush();
            } catch (IOException | RuntimeException e) {
                g = null; // midway through an object: its state and buffer are not reusable
                throw e instanceof IOException io ? new UncheckedIOException(io) : (RuntimeException) e;
            }
        }
    }

    private void writeLine(JsonGenerator g, ILoggingEvent event) throws IOException {
        g.writeStartObject();
        g.writeStringField("ts", timestamps.format(event.getTimeStamp()));
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
    }

    private final Timestamps timestamps = new Timestamps();

    /**
     * {@link Instant#toString} of epoch milliseconds, its date and time of day formatted once per second (that
     * formatting was the other third of the writer's time); same text, fraction and all.
     */
    static final class Timestamps {
        /** The last second formatted, and its text up to the seconds: replaced whole, read by any thread. */
        private record Second(long epochSecond, String prefix) {}

        private volatile Second last = new Second(Long.MIN_VALUE, "");

        String format(long epochMilli) {
            long second = Math.floorDiv(epochMilli, 1000);
            int millis = (int) Math.floorMod(epochMilli, 1000);
            Second s = last;
            if (s.epochSecond() != second) {
                String full = Instant.ofEpochSecond(second).toString(); // "...:ssZ"
                s = new Second(second, full.substring(0, full.length() - 1));
                last = s;
            }
            if (millis == 0) {
                return s.prefix() + "Z";
            }
            StringBuilder b = new StringBuilder(s.prefix().length() + 5).append(s.prefix()).append('.');
            if (millis < 100) {
                b.append('0');
            }
            if (millis < 10) {
                b.append('0');
            }
            return b.append(millis).append('Z').toString();
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
