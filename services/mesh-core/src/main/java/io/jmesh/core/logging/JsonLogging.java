package io.jmesh.core.logging;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import java.util.LinkedHashMap;
import java.util.Map;
import org.slf4j.LoggerFactory;

/**
 * Installs JSON-lines logging on standard output for a service process.
 *
 * <p>Events go through a bounded queue to one writer thread ({@link JsonLinesAppender}) and never block the
 * caller: an event loop that logs an access line must not stall because stdout is a slow pipe. When the queue is
 * full, lines are dropped rather than blocking, and the writer says how many.
 */
public final class JsonLogging {

    private static final int QUEUE_SIZE = 8192;

    private JsonLogging() {}

    /** Replaces any logback configuration with JSON to stdout at {@code rootLevel}. Idempotent. */
    public static synchronized void install(String rootLevel) {
        LoggerContext ctx = context();
        ctx.reset();

        JsonLinesAppender lines = new JsonLinesAppender(QUEUE_SIZE);
        lines.setContext(ctx);
        lines.setName("stdout");
        lines.start();

        Logger root = ctx.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        root.setLevel(parseLevel(rootLevel));
        root.addAppender(lines);
        // chatty libraries stay at WARN unless asked for
        ctx.getLogger("org.apache.kafka").setLevel(Level.WARN);
        ctx.getLogger("io.netty").setLevel(Level.INFO);
        // BoringSSL cannot narrow the TLS 1.3 suites, and Netty says so at INFO for every new TLS context: ztunnel
        // makes one per workload certificate (56 lines in five minutes of mesh-soak's churn). The mesh closes a
        // peer that negotiated anything but AES-GCM right after the handshake instead (docs/ztunnel.md, HBONE).
        ctx.getLogger(OPENSSL_CONTEXT).setLevel(Level.WARN);
    }

    /** Netty's logger of BoringSSL contexts. */
    static final String OPENSSL_CONTEXT = "io.netty.handler.ssl.ReferenceCountedOpenSslContext";

    /** Sets one logger's level at runtime (ztunnel's {@code /logging}); "root" addresses the root logger. */
    public static void setLevel(String logger, String level) {
        String name = "root".equalsIgnoreCase(logger) ? org.slf4j.Logger.ROOT_LOGGER_NAME : logger;
        context().getLogger(name).setLevel(parseLevel(level));
    }

    /** Loggers with an explicitly set level, root first. */
    public static Map<String, String> levels() {
        Map<String, String> out = new LinkedHashMap<>();
        for (Logger l : context().getLoggerList()) {
            if (l.getLevel() != null) {
                out.put(l.getName().equals(org.slf4j.Logger.ROOT_LOGGER_NAME) ? "root" : l.getName(),
                        l.getLevel().toString());
            }
        }
        return out;
    }

    /**
     * Puts every logger back to {@code levels} (as {@link #levels()} returned them, e.g. at start): a logger given a
     * level since then, and absent there, inherits its parent's again (ztunnel's {@code /logging?reset}).
     */
    public static void restore(Map<String, String> levels) {
        for (Logger l : context().getLoggerList()) {
            boolean root = l.getName().equals(org.slf4j.Logger.ROOT_LOGGER_NAME);
            String wanted = levels.get(root ? "root" : l.getName());
            Level level = wanted == null ? null : parseLevel(wanted);
            if (level != l.getLevel() && (level != null || !root)) { // the root always keeps a level
                l.setLevel(level);
            }
        }
    }

    /** Flushes and stops the appenders; call last during shutdown so the final lines are written. */
    public static void flush() {
        context().stop();
    }

    private static Level parseLevel(String level) {
        Level parsed = Level.toLevel(level, null);
        if (parsed == null) {
            throw new IllegalArgumentException("log level: '" + level
                    + "' (expected: trace, debug, info, warn, error, off)");
        }
        return parsed;
    }

    private static LoggerContext context() {
        return (LoggerContext) LoggerFactory.getILoggerFactory();
    }
}
