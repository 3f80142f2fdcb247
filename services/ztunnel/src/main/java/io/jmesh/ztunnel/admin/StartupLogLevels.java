package io.jmesh.ztunnel.admin;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import org.slf4j.LoggerFactory;

/**
 * The logger levels ztunnel started with (the configuration's, applied before the admin server is built), to which
 * {@code POST /logging?reset} returns, as Istio's ztunnel returns to its startup filter.
 */
final class StartupLogLevels {

    private final Map<String, Level> startup;

    /** Takes the levels set now as the startup ones. */
    StartupLogLevels() {
        Map<String, Level> levels = new HashMap<>();
        for (Logger l : context().getLoggerList()) {
            if (l.getLevel() != null) {
                levels.put(l.getName(), l.getLevel());
            }
        }
        startup = Map.copyOf(levels);
    }

    /** Every logger back to its startup level; one given a level since then inherits its parent's again. */
    void restore() {
        for (Logger l : context().getLoggerList()) {
            Level wanted = startup.get(l.getName()); // the root always has one: it is never set to null
            if (!Objects.equals(l.getLevel(), wanted)) {
                l.setLevel(wanted);
            }
        }
    }

    private static LoggerContext context() {
        return (LoggerContext) LoggerFactory.getILoggerFactory();
    }
}
