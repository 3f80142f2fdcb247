package io.jmesh.ztunnel.inpod;

import com.sun.jna.LastErrorException;
import com.sun.jna.Memory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A connected {@code SOCK_SEQPACKET} Unix socket, blocking, as the CNI node agent serves ZDS on: one message per
 * packet, and file descriptors ride along as {@code SCM_RIGHTS}. Used from one thread; {@link #shutdown} may be
 * called from any thread to wake a blocked {@link #receive}.
 */
final class SeqPacketSocket implements AutoCloseable {

    /** What one {@code recvmsg} returned; the caller owns {@code fds}. Zero bytes and no fds is end of stream. */
    record Packet(byte[] data, List<Integer> fds, boolean truncated) {
        boolean endOfStream() {
            return data.length == 0 && fds.isEmpty() && !truncated;
        }
    }

    // struct msghdr on 64-bit Linux: name, namelen(+pad), iov, iovlen, control, controllen, flags(+pad)
    private static final int MSGHDR = 56;
    private static final int IOVEC = 16;
    private static final int CMSG_HEADER = 16; // len (size_t), level, type
    private static final int MAX_FDS = 8;

    private final int fd;
    private final AtomicBoolean closed = new AtomicBoolean();

    private SeqPacketSocket(int fd) {
        this.fd = fd;
    }

    static SeqPacketSocket connect(String path) throws IOException {
        byte[] name = path.getBytes(StandardCharsets.UTF_8);
        if (name.length >= 108) {
            throw new IOException("unix socket path longer than 107 bytes: " + path);
        }
        byte[] address = new byte[2 + name.length + 1];
        address[0] = (byte) LibC.AF_UNIX; // sa_family_t in host (little-endian on x86-64 and arm64) order
        System.arraycopy(name, 0, address, 2, name.length);
        int fd;
        try {
            fd = LibC.INSTANCE.socket(LibC.AF_UNIX, LibC.SOCK_SEQPACKET | LibC.SOCK_CLOEXEC, 0);
        } catch (LastErrorException e) {
            throw new IOException("socket(AF_UNIX, SOCK_SEQPACKET): " + LibC.describe(e));
        }
        try {
            LibC.INSTANCE.connect(fd, address, address.length);
        } catch (LastErrorException e) {
            PodNetns.closeQuietly(fd);
            throw new IOException("connect " + path + ": " + LibC.describe(e));
        }
        return new SeqPacketSocket(fd);
    }

    void send(byte[] message) throws IOException {
        try (Memory data = new Memory(Math.max(1, message.length)); Memory iov = new Memory(IOVEC);
                Memory header = new Memory(MSGHDR)) {
            data.write(0, message, 0, message.length);
            iov.setPointer(0, data);
            iov.setLong(8, message.length);
            header.clear();
            header.setPointer(16, iov);
            header.setLong(24, 1);
            long sent = LibC.INSTANCE.sendmsg(fd, header, 0).longValue();
            if (sent != message.length) {
                throw new IOException("sendmsg sent " + sent + " of " + message.length + " bytes");
            }
        } catch (LastErrorException e) {
            throw new IOException("sendmsg: " + LibC.describe(e));
        }
    }

    /** A {@link #receive} waits at most this long and then returns null. */
    void receiveTimeout(java.time.Duration timeout) throws IOException {
        // struct timeval: tv_sec, tv_usec (64-bit each), little-endian
        java.nio.ByteBuffer tv = java.nio.ByteBuffer.allocate(16).order(java.nio.ByteOrder.nativeOrder());
        tv.putLong(timeout.toSeconds()).putLong(timeout.toNanosPart() / 1000);
        try {
            LibC.INSTANCE.setsockopt(fd, LibC.SOL_SOCKET, LibC.SO_RCVTIMEO, tv.array(), 16);
        } catch (LastErrorException e) {
            throw new IOException("setsockopt SO_RCVTIMEO: " + LibC.describe(e));
        }
    }

    /**
     * Blocks for the next packet of at most {@code maxBytes} (more is reported as truncated, never split), or
     * returns null when the {@link #receiveTimeout} passed first.
     */
    Packet receive(int maxBytes) throws IOException {
        int controlBytes = CMSG_HEADER + align(4 * MAX_FDS);
        try (Memory data = new Memory(maxBytes); Memory iov = new Memory(IOVEC); Memory control = new Memory(controlBytes);
                Memory header = new Memory(MSGHDR)) {
            iov.setPointer(0, data);
            iov.setLong(8, maxBytes);
            control.clear();
            header.clear();
            header.setPointer(16, iov);
            header.setLong(24, 1);
            header.setPointer(32, control);
            header.setLong(40, controlBytes);
            long n;
            while (true) {
                try {
                    n = LibC.INSTANCE.recvmsg(fd, header, LibC.MSG_CMSG_CLOEXEC).longValue();
                    break;
                } catch (LastErrorException e) {
                    if (e.getErrorCode() == LibC.EAGAIN && !closed.get()) {
                        return null;
                    }
                    if (e.getErrorCode() != LibC.EINTR || closed.get()) {
                        throw new IOException("recvmsg: " + LibC.describe(e));
                    }
                }
            }
            int flags = header.getInt(48);
            List<Integer> fds = fds(control, header.getLong(40));
            boolean truncated = (flags & (LibC.MSG_TRUNC | LibC.MSG_CTRUNC)) != 0;
            return new Packet(data.getByteArray(0, (int) n), fds, truncated);
        }
    }

    /** Every descriptor of every {@code SCM_RIGHTS} message in the control data the kernel filled in. */
    private static List<Integer> fds(Memory control, long length) {
        List<Integer> fds = new ArrayList<>();
        long at = 0;
        while (at + CMSG_HEADER <= length) {
            long len = control.getLong(at);
            if (len < CMSG_HEADER || at + len > length) {
                break;
            }
            if (control.getInt(at + 8) == LibC.SOL_SOCKET && control.getInt(at + 12) == LibC.SCM_RIGHTS) {
                for (long p = at + CMSG_HEADER; p + 4 <= at + len; p += 4) {
                    fds.add(control.getInt(p));
                }
            }
            at += align(len);
        }
        return fds;
    }

    private static int align(long n) {
        return (int) ((n + 7) & ~7L);
    }

    /** Wakes a blocked receive (it then sees end of stream) and refuses further I/O; safe from any thread. */
    void shutdown() {
        try {
            LibC.INSTANCE.shutdown(fd, LibC.SHUT_RDWR);
        } catch (LastErrorException e) {
            // not connected any more: nothing to wake
        }
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            shutdown();
            PodNetns.closeQuietly(fd);
        }
    }
}
