package io.jmesh.testing.fuzz;

import java.security.Permission;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ForkJoinPool;

/**
 * Catches name resolution in code that must only ever read IP literals ("never resolves a name"): inside
 * {@link #forbidden}, an {@link java.net.InetAddress} lookup of a name on the calling thread is refused (no DNS query
 * leaves) and fails the call with an {@link AssertionError} naming the host.
 *
 * <p>How: JDK 17's {@code InetAddress} asks the security manager {@code checkConnect(host, -1)} before it resolves
 * a name, and never for a literal. A permissive security manager that only watches that call is installed for the
 * duration of a fuzz class ({@link #install}, {@link #uninstall}); other threads are not affected.
 */
@SuppressWarnings("removal")
public final class NameLookups {

    private static final ThreadLocal<List<String>> WATCHED = new ThreadLocal<>();

    private static final SecurityManager WATCHER = new SecurityManager() {
        @Override
        public void checkPermission(Permission perm) {}

        @Override
        public void checkPermission(Permission perm, Object context) {}

        @Override
        public void checkConnect(String host, int port) {
            refuseLookup(host, port);
        }

        @Override
        public void checkConnect(String host, int port, Object context) {
            refuseLookup(host, port);
        }
    };

    private NameLookups() {}

    private static void refuseLookup(String host, int port) {
        List<String> seen = WATCHED.get();
        if (port == -1 && seen != null) {
            seen.add(host);
            throw new SecurityException("name lookup refused by the test: " + host);
        }
    }

    public static synchronized void install() {
        ForkJoinPool.commonPool(); // created now, without a security manager (else its threads would be innocuous)
        if (System.getSecurityManager() != WATCHER) {
            System.setSecurityManager(WATCHER);
        }
    }

    public static synchronized void uninstall() {
        if (System.getSecurityManager() == WATCHER) {
            System.setSecurityManager(null);
        }
    }

    /** Runs {@code call} here and returns its result or throws its exception; any name lookup fails it instead. */
    public static <T> T forbidden(Callable<T> call) throws Exception {
        if (System.getSecurityManager() != WATCHER) {
            throw new IllegalStateException("NameLookups.install() first");
        }
        List<String> seen = new ArrayList<>(1);
        WATCHED.set(seen);
        try {
            return call.call();
        } finally {
            WATCHED.remove();
            if (!seen.isEmpty()) {
                throw new AssertionError("resolved the name(s) " + seen + " where only IP literals are read");
            }
        }
    }
}
