package io.jmesh.ztunnel.dns;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Upstream name servers that let a query go unanswered lately, so that the queries after it start elsewhere: a
 * server that is silent (or refuses or drops a TCP connection) is held down for {@value #HOLD_DOWN_TIMEOUTS} query
 * timeouts, and a query starts with the first server in the configured order that is not held down (all held down:
 * the configured order). A dead first server then costs one timeout per hold-down instead of one per query; hickory
 * (Istio's forwarder) orders its servers by their record likewise. An answer of any kind ends a server's hold-down.
 * Any thread: one atomic {@code long} per server, no lock.
 */
public final class SilentServers {

    /**
     * How long a silent server is held down, in query timeouts: long enough that a dead server costs a small share of
     * the queries one timeout each (with the default 2 s, one query every 20 s), short enough that a server back from
     * a restart is preferred again soon.
     */
    public static final int HOLD_DOWN_TIMEOUTS = 10;

    private final List<InetSocketAddress> servers;
    private final long holdDownNanos;
    /** Per server, until when ({@link System#nanoTime()}) it is held down; 0 when it is not. */
    private final AtomicLongArray heldDownUntil;

    public SilentServers(List<InetSocketAddress> servers, Duration queryTimeout) {
        this.servers = List.copyOf(servers);
        this.holdDownNanos = queryTimeout.toNanos() * HOLD_DOWN_TIMEOUTS;
        this.heldDownUntil = new AtomicLongArray(servers.size());
    }

    /** The index of the server a query asks first. */
    public int first() {
        long now = System.nanoTime();
        for (int i = 0; i < heldDownUntil.length(); i++) {
            long until = heldDownUntil.get(i);
            if (until == 0 || until - now <= 0) {
                return i;
            }
        }
        return 0;
    }

    /** The server at {@code index} let a query go unanswered. */
    public void silent(int index) {
        long until = System.nanoTime() + holdDownNanos;
        heldDownUntil.set(index, until == 0 ? 1 : until);
    }

    /** The server at {@code index} answered. */
    public void answered(int index) {
        if (heldDownUntil.get(index) != 0) { // a read, not a write, on the common path
            heldDownUntil.set(index, 0);
        }
    }

    /** As {@link #silent(int)}, by address; one not configured is ignored. */
    public void silent(InetSocketAddress server) {
        int i = servers.indexOf(server);
        if (i >= 0) {
            silent(i);
        }
    }

    /** As {@link #answered(int)}, by address; one not configured is ignored. */
    public void answered(InetSocketAddress server) {
        int i = servers.indexOf(server);
        if (i >= 0) {
            answered(i);
        }
    }
}
