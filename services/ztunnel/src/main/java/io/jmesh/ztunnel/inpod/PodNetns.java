package io.jmesh.ztunnel.inpod;

import com.sun.jna.LastErrorException;
import io.jmesh.ztunnel.tunnel.NetworkNamespace;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A pod's network namespace, held open by the file descriptor the CNI node agent sent. {@link #enter} moves the
 * calling thread into it with {@code setns} and back into ztunnel's own namespace afterwards, as Istio's ztunnel does
 * on its worker threads: two system calls per socket created, nothing per packet.
 */
final class PodNetns implements NetworkNamespace, AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(PodNetns.class);

    /** ztunnel's own namespace, opened once: every {@link #enter} returns to it. */
    private static final class Home {
        static final int FD = openHome();

        private static int openHome() {
            try {
                return LibC.INSTANCE.open("/proc/self/ns/net", LibC.O_RDONLY | LibC.O_CLOEXEC);
            } catch (LastErrorException e) {
                throw new IllegalStateException("cannot open /proc/self/ns/net: " + LibC.describe(e), e);
            }
        }
    }

    private final int fd;
    private final String id;
    private final AtomicBoolean closed = new AtomicBoolean();
    /** One for the owner plus one per {@link #enter} in progress: the fd is closed when the last one lets go. */
    private final AtomicInteger holds = new AtomicInteger(1);

    private PodNetns(int fd, String id) {
        this.fd = fd;
        this.id = id;
    }

    /**
     * Takes ownership of {@code fd}; refuses (and closes) anything that is not a network namespace, so a confused
     * agent can never make ztunnel {@code setns} into something else.
     */
    static PodNetns adopt(int fd) {
        int type;
        try {
            type = LibC.INSTANCE.ioctl(fd, new com.sun.jna.NativeLong(LibC.NS_GET_NSTYPE));
        } catch (LastErrorException e) {
            closeQuietly(fd);
            throw new IllegalArgumentException("the file descriptor sent is not a namespace (NS_GET_NSTYPE: "
                    + LibC.describe(e) + ")");
        }
        if (type != LibC.CLONE_NEWNET) {
            closeQuietly(fd);
            throw new IllegalArgumentException("the file descriptor sent is a namespace of type 0x"
                    + Integer.toHexString(type) + ", not a network namespace");
        }
        try {
            // stat through the magic link: the namespace's own inode, whether the agent opened /proc/<pid>/ns/net
            // or a bind mount such as /var/run/netns/<name>
            Object inode = Files.getAttribute(Path.of("/proc/self/fd/" + fd), "unix:ino");
            return new PodNetns(fd, "net:[" + inode + "]");
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            closeQuietly(fd);
            throw new IllegalArgumentException("netns file descriptor " + fd + " cannot be inspected: " + e.getMessage());
        }
    }

    /** Whether a failure of {@link #migrateAcceptQueues} was logged (once per process: the cause is the same). */
    private static final AtomicBoolean MIGRATE_REFUSAL_LOGGED = new AtomicBoolean();

    /**
     * Asks the pod's kernel to hand what a closing listener has accepted but not yet claimed to another listener of
     * its {@code SO_REUSEPORT} group ({@code net.ipv4.tcp_migrate_req}, Linux 5.14+, a per-namespace setting): at a
     * ztunnel handover the old one's listeners close while the new one's stay, and without it a connection still in
     * the old one's accept queue is reset. Best effort: {@code /proc/sys} is read-only in most containers, where
     * istio-cni or the pod's sysctls must set it; a refusal is logged once and changes nothing else.
     *
     * @return null when set, else why not
     */
    String migrateAcceptQueues() {
        String why = enter(() -> {
            try {
                // opened on this thread, now in the pod's namespace: /proc/sys/net is the namespace of the opener
                Files.writeString(Path.of("/proc/sys/net/ipv4/tcp_migrate_req"), "1");
                return null;
            } catch (IOException | RuntimeException e) {
                return e.toString();
            }
        });
        if (why != null && MIGRATE_REFUSAL_LOGGED.compareAndSet(false, true)) {
            log.atInfo().addKeyValue("netns", id).log("cannot set net.ipv4.tcp_migrate_req in the pods' network"
                    + " namespaces ({}): at a ztunnel handover, a connection still in the old ztunnel's accept queue"
                    + " is reset; set it with istio-cni or the pods' sysctls", why);
        }
        return why;
    }

    /** Identity of the namespace ({@code net:[inode]}): a pod whose sandbox was re-created gets a new one. */
    String id() {
        return id;
    }

    @Override
    public <T> T enter(Supplier<T> create) {
        for (int h = holds.get(); ; h = holds.get()) {
            if (h == 0) {
                throw new IllegalStateException("pod network namespace " + id + " was released");
            }
            if (holds.compareAndSet(h, h + 1)) {
                break;
            }
        }
        try {
            return inside(create);
        } finally {
            release();
        }
    }

    private <T> T inside(Supplier<T> create) {
        try {
            LibC.INSTANCE.setns(fd, LibC.CLONE_NEWNET);
        } catch (LastErrorException e) {
            throw new IllegalStateException("setns into " + id + ": " + LibC.describe(e)
                    + " (ztunnel needs CAP_SYS_ADMIN in in-pod mode)", e);
        }
        try {
            return create.get();
        } finally {
            try {
                LibC.INSTANCE.setns(Home.FD, LibC.CLONE_NEWNET);
            } catch (LastErrorException e) {
                // a thread left in a pod's namespace would create later sockets there: never continue
                log.error("cannot return to ztunnel's own network namespace after {}: {}; halting", id,
                        LibC.describe(e));
                Runtime.getRuntime().halt(70);
            }
        }
    }

    /** Verifies that this process may move threads between namespaces (CAP_SYS_ADMIN), before any pod arrives. */
    static void checkCapable() {
        try {
            LibC.INSTANCE.setns(Home.FD, LibC.CLONE_NEWNET);
        } catch (LastErrorException e) {
            throw new IllegalStateException("in-pod mode: setns failed: " + LibC.describe(e)
                    + " (ztunnel needs CAP_SYS_ADMIN)", e);
        }
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            release();
        }
    }

    private void release() {
        if (holds.decrementAndGet() == 0) {
            closeQuietly(fd);
        }
    }

    static void closeQuietly(int fd) {
        try {
            LibC.INSTANCE.close(fd);
        } catch (LastErrorException e) {
            // already gone: nothing to release
        }
    }

    @Override
    public String toString() {
        return id;
    }
}
