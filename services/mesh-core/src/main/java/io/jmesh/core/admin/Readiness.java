package io.jmesh.core.admin;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Readiness as a set of named startup tasks: the service is ready when every registered task has completed
 * (ztunnel: "certificates", "config"; ca: "root", "grpc"...). The launcher's own task "start" is pending from
 * before the admin server answers until the service's start() completed, so an early probe never sees a
 * premature "ready", whenever the service registers its tasks.
 *
 * <p>Thread-safe; reads are lock-free.
 */
public final class Readiness {

    private static final Logger log = LoggerFactory.getLogger(Readiness.class);

    private final Map<String, Boolean> tasks = new ConcurrentSkipListMap<>();

    /** A handle that marks one startup task done. */
    public final class Task {
        private final String name;

        private Task(String name) {
            this.name = name;
        }

        public void complete() {
            Boolean was = tasks.put(name, Boolean.TRUE);
            if (was != null && !was) {
                log.atInfo().addKeyValue("task", name).addKeyValue("pending", pending().size())
                        .log("startup task complete");
            }
        }

        /** Marks the task pending again (e.g. a required connection was lost before first sync). */
        public void reset() {
            tasks.put(name, Boolean.FALSE);
        }

        public String name() {
            return name;
        }
    }

    /** Registers a pending task; registering an existing name returns a handle to the same task. */
    public Task register(String name) {
        tasks.putIfAbsent(name, Boolean.FALSE);
        return new Task(name);
    }

    public boolean isReady() {
        return !tasks.containsValue(Boolean.FALSE);
    }

    public List<String> pending() {
        return tasks.entrySet().stream().filter(e -> !e.getValue()).map(Map.Entry::getKey).toList();
    }
}
