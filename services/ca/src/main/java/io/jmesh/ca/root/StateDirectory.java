package io.jmesh.ca.root;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The CA's state directory: the self-managed root of trust, bootstrap tokens, revocations and the issuance
 * journal. Shared by every replica and by the CLI, so every change goes through {@link #locked} (an OS file lock
 * plus a lock per directory within this JVM) and every file is replaced by an atomic rename: a reader sees the
 * old file or the new one, never half of one.
 *
 * <p>The directory is created {@code 0700}, every file {@code 0600}.
 *
 * <p>Layout:
 * <pre>
 *   root-cert.pem         every trusted root, concatenated: what clients bootstrap trust from (written by the CA)
 *   ca-cert.pem           the active signing root (self-managed mode)
 *   ca-key.pem            its private key (PKCS#8)
 *   next-ca-cert.pem      a prepared next root: already trusted, not yet signing (root rotation)
 *   next-ca-key.pem       its private key
 *   previous-roots.pem    roots that signed before the last activation: still trusted until retired
 *   tokens.json           bootstrap tokens (hashes only)
 *   revocations.pb        revoked certificates (length-delimited jmesh.ca.v1.Revocation)
 *   issued/&lt;replica&gt;.log  issuance journal of each replica (serial, expiry, identity), for revocation by identity
 * </pre>
 *
 * <p>Thread-safe.
 */
public final class StateDirectory implements RootStore {

    public static final String ROOT_CERT = "root-cert.pem";
    public static final String CA_CERT = "ca-cert.pem";
    public static final String CA_KEY = "ca-key.pem";
    public static final String NEXT_CA_CERT = "next-ca-cert.pem";
    public static final String NEXT_CA_KEY = "next-ca-key.pem";
    public static final String PREVIOUS_ROOTS = "previous-roots.pem";
    public static final String TOKENS = "tokens.json";
    public static final String REVOCATIONS = "revocations.pb";
    public static final String IDENTITY_REVOCATIONS = "identity-revocations.pb";
    public static final String ISSUED_DIR = "issued";
    private static final String LOCK = ".lock";

    private static final Set<PosixFilePermission> FILE_MODE = PosixFilePermissions.fromString("rw-------");
    private static final Set<PosixFilePermission> DIR_MODE = PosixFilePermissions.fromString("rwx------");
    private static final ConcurrentHashMap<Path, ReentrantLock> JVM_LOCKS = new ConcurrentHashMap<>();

    private final Path dir;

    private StateDirectory(Path dir) {
        this.dir = dir;
    }

    /** Opens (creating it {@code 0700} if needed) the state directory at {@code dir}. Blocking. */
    public static StateDirectory open(Path dir) {
        Objects.requireNonNull(dir, "dir");
        Path abs = dir.toAbsolutePath().normalize();
        try {
            if (!Files.isDirectory(abs)) {
                Files.createDirectories(abs);
                setMode(abs, DIR_MODE);
            }
            Path issued = abs.resolve(ISSUED_DIR);
            if (!Files.isDirectory(issued)) {
                Files.createDirectories(issued);
                setMode(issued, DIR_MODE);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("state directory " + abs + ": cannot create: " + e.getMessage(), e);
        }
        if (!Files.isWritable(abs)) {
            throw new IllegalStateException("state directory " + abs + ": not writable");
        }
        return new StateDirectory(abs);
    }

    public Path path() {
        return dir;
    }

    public Path resolve(String name) {
        return dir.resolve(name);
    }

    @Override
    public String where(String name) {
        return dir.resolve(name).toString();
    }

    @Override
    public String describe() {
        return "state-dir:" + dir;
    }

    @Override
    public boolean exists(String name) {
        return Files.exists(dir.resolve(name));
    }

    /** The file's text, or null when it does not exist. */
    @Override
    public String readString(String name) {
        try {
            return Files.readString(dir.resolve(name), StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw new UncheckedIOException("state directory: cannot read " + name + ": " + e.getMessage(), e);
        }
    }

    /** The file's bytes, or null when it does not exist. */
    public byte[] readBytes(String name) {
        try {
            return Files.readAllBytes(dir.resolve(name));
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw new UncheckedIOException("state directory: cannot read " + name + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void writeString(String name, String content) {
        write(name, content.getBytes(StandardCharsets.UTF_8));
    }

    /** Replaces {@code name} atomically with {@code content}, mode {@code 0600}. */
    public void write(String name, byte[] content) {
        write(dir.resolve(name), content);
    }

    /** Replaces {@code target} atomically with {@code content}, mode {@code 0600}. */
    public static void write(Path target, byte[] content) {
        Path tmp = target.resolveSibling("." + target.getFileName() + ".tmp-" + ProcessHandle.current().pid() + "-"
                + Thread.currentThread().getId());
        try {
            Files.deleteIfExists(tmp);
            Files.createFile(tmp, PosixFilePermissions.asFileAttribute(FILE_MODE));
            // a stream, not a FileChannel: an interrupt (Vert.x closing its workers on a signal during start-up)
            // must not abort a key write half-way; a channel would close itself with ClosedByInterruptException
            try (FileOutputStream out = new FileOutputStream(tmp.toFile())) {
                out.write(content);
                out.getFD().sync();
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // best effort
            }
            throw new UncheckedIOException("cannot write " + target + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void delete(String name) {
        try {
            Files.deleteIfExists(dir.resolve(name));
        } catch (IOException e) {
            throw new UncheckedIOException("state directory: cannot delete " + name + ": " + e.getMessage(), e);
        }
    }

    /** Work done while holding the directory's exclusive lock. */
    @FunctionalInterface
    public interface LockedWork<T> {
        T run() throws IOException;
    }

    /**
     * Runs {@code work} holding the state directory's exclusive lock: an OS lock on {@code .lock} (other processes:
     * the CLI, replicas) and a lock per directory within this JVM (tests run replicas in one JVM). Blocking.
     */
    @Override
    public <T> T locked(LockedWork<T> work) {
        ReentrantLock jvmLock = JVM_LOCKS.computeIfAbsent(dir, d -> new ReentrantLock());
        jvmLock.lock();
        try (FileChannel ch = FileChannel.open(dir.resolve(LOCK), Set.of(StandardOpenOption.CREATE,
                StandardOpenOption.WRITE), PosixFilePermissions.asFileAttribute(FILE_MODE));
                FileLock lock = ch.lock()) {
            return work.run();
        } catch (IOException e) {
            throw new UncheckedIOException("state directory " + dir + ": " + e.getMessage(), e);
        } finally {
            jvmLock.unlock();
        }
    }

    /**
     * A cheap fingerprint of some files (inode, size, modification time) to notice changes without reading them.
     * Atomic renames change the inode, so a replaced file always changes its stamp.
     */
    @Override
    public String stamp(String... names) {
        List<Path> paths = new ArrayList<>();
        for (String n : names) {
            paths.add(dir.resolve(n));
        }
        return stamp(paths);
    }

    public static String stamp(List<Path> paths) {
        StringBuilder sb = new StringBuilder();
        for (Path p : paths) {
            try {
                BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
                sb.append(p.getFileName()).append(':').append(a.fileKey()).append(':').append(a.size()).append(':')
                        .append(a.lastModifiedTime().toMillis()).append(';');
            } catch (NoSuchFileException e) {
                sb.append(p.getFileName()).append(":-;");
            } catch (IOException e) {
                sb.append(p.getFileName()).append(":?;");
            }
        }
        return sb.toString();
    }

    /** Creates {@code dir} if missing (mode 0700). */
    public static void createPrivateDirectory(Path dir) {
        try {
            Files.createDirectory(dir);
            setMode(dir, DIR_MODE);
        } catch (FileAlreadyExistsException e) {
            // fine
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + dir + ": " + e.getMessage(), e);
        }
    }

    private static void setMode(Path p, Set<PosixFilePermission> mode) throws IOException {
        try {
            Files.setPosixFilePermissions(p, mode);
        } catch (UnsupportedOperationException e) {
            // not a POSIX file system: nothing to set
        }
    }

    @Override
    public String toString() {
        return dir.toString();
    }
}
