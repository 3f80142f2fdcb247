package io.jmesh.ztunnel.inpod;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.NativeLong;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;

/**
 * The few libc calls in-pod mode needs and the JDK (17) does not offer: {@code setns}, {@code SOCK_SEQPACKET} Unix
 * sockets with {@code SCM_RIGHTS}, and {@code SO_ORIGINAL_DST}. Loaded on first use, so ztunnel outside in-pod mode
 * never loads JNA. Linux on 64-bit CPUs only (the {@code msghdr} layout below).
 */
interface LibC extends Library {

    int AF_UNIX = 1;
    int SOCK_SEQPACKET = 5;
    int SOCK_CLOEXEC = 0x80000;
    int O_RDONLY = 0;
    int O_CLOEXEC = 0x80000;
    int CLONE_NEWNET = 0x40000000;
    int SOL_SOCKET = 1;
    int SCM_RIGHTS = 1;
    int SOL_IP = 0;
    int SOL_IPV6 = 41;
    /** {@code SO_ORIGINAL_DST} and {@code IP6T_SO_ORIGINAL_DST}: the destination before a NAT REDIRECT. */
    int SO_ORIGINAL_DST = 80;
    int MSG_CMSG_CLOEXEC = 0x40000000;
    int MSG_TRUNC = 0x20;
    int MSG_CTRUNC = 0x8;
    int SHUT_RDWR = 2;
    int SO_RCVTIMEO = 20;
    /** {@code NS_GET_NSTYPE}, {@code _IO(0xb7, 0x3)}: the kind of namespace a file descriptor refers to. */
    long NS_GET_NSTYPE = 0xb703L;
    int ENOENT = 2;
    int EAGAIN = 11;
    int EINTR = 4;

    LibC INSTANCE = load();

    private static LibC load() {
        if (Native.POINTER_SIZE != 8) {
            throw new UnsupportedOperationException("in-pod mode needs a 64-bit Linux JVM");
        }
        return Native.load("c", LibC.class);
    }

    int setns(int fd, int nstype) throws LastErrorException;

    int ioctl(int fd, NativeLong request) throws LastErrorException;

    int open(String path, int flags) throws LastErrorException;

    int close(int fd) throws LastErrorException;

    int socket(int domain, int type, int protocol) throws LastErrorException;

    int connect(int fd, byte[] address, int length) throws LastErrorException;

    int shutdown(int fd, int how) throws LastErrorException;

    NativeLong sendmsg(int fd, Pointer message, int flags) throws LastErrorException;

    NativeLong recvmsg(int fd, Pointer message, int flags) throws LastErrorException;

    int getsockopt(int fd, int level, int name, byte[] value, IntByReference length) throws LastErrorException;

    int setsockopt(int fd, int level, int name, byte[] value, int length) throws LastErrorException;

    /** The text of an errno value. */
    static String describe(LastErrorException e) {
        return e.getMessage() + " (errno " + e.getErrorCode() + ")";
    }
}
