package io.jmesh.ca.revocation;

import io.jmesh.ca.root.StateDirectory;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What each replica issued, so an identity can be revoked: one line {@code <serial hex> <not-after epoch seconds>
 * <identity>} per certificate in {@code issued/<replica>.log} of the state directory. Each replica appends only to
 * its own file (no lock needed), written through on every line so other replicas and the CLI see it at once.
 * Expired lines are dropped when the replica starts and every hour ({@link #prune}).
 *
 * <p>Thread-safe; blocking (one small write per issuance, on a signing thread).
 */
public final class IssuanceJournal implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(IssuanceJournal.class);

    /** One issued certificate. */
    public record Entry(String serialHex, Instant notAfter, String identity) {}

    private final Path dir;
    private final Path file;
    private final Object lock = new Object();
    private BufferedWriter writer;

    private IssuanceJournal(Path dir, Path file, BufferedWriter writer) {
        this.dir = dir;
        this.file = file;
        this.writer = writer;
    }

    /** Opens the journal of {@code replica}, dropping entries that expired before {@code now}. */
    public static IssuanceJournal open(StateDirectory state, String replica, Instant now) {
        Path dir = state.resolve(StateDirectory.ISSUED_DIR);
        Path file = dir.resolve(fileName(replica));
        try {
            dropExpired(file, now);
            return new IssuanceJournal(dir, file, appender(file));
        } catch (IOException e) {
            throw new UncheckedIOException("issuance journal " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Rewrites this replica's journal without the entries that expired before {@code now}, so it holds about one
     * certificate lifetime of issuance. Appends wait for the rewrite.
     */
    public void prune(Instant now) {
        synchronized (lock) {
            try {
                writer.close();
                dropExpired(file, now);
                writer = appender(file);
            } catch (IOException e) {
                log.atWarn().addKeyValue("file", file.toString()).log("issuance journal prune failed: {}",
                        e.getMessage());
                try {
                    writer = appender(file);
                } catch (IOException again) {
                    throw new UncheckedIOException("issuance journal " + file + ": " + again.getMessage(), again);
                }
            }
        }
    }

    private static void dropExpired(Path file, Instant now) throws IOException {
        if (!Files.exists(file)) {
            return;
        }
        StringBuilder sb = new StringBuilder();
        for (Entry e : readFile(file)) {
            if (e.notAfter().isAfter(now)) {
                sb.append(line(e));
            }
        }
        StateDirectory.write(file, sb.toString().getBytes(StandardCharsets.UTF_8));
    }

    private static BufferedWriter appender(Path file) throws IOException {
        BufferedWriter w = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                StandardOpenOption.APPEND, StandardOpenOption.WRITE);
        try {
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
        } catch (UnsupportedOperationException e) {
            // not POSIX
        }
        return w;
    }

    private static String fileName(String replica) {
        return replica.replaceAll("[^A-Za-z0-9._-]", "_") + ".log";
    }

    private static String line(Entry e) {
        return e.serialHex() + " " + e.notAfter().getEpochSecond() + " " + e.identity() + "\n";
    }

    /** Records one issued certificate. */
    public void append(Entry e) {
        String line = line(e);
        synchronized (lock) {
            try {
                writer.write(line);
                writer.flush();
            } catch (IOException ex) {
                log.atWarn().addKeyValue("serial", e.serialHex()).log("issuance journal write failed: {}",
                        ex.getMessage());
            }
        }
    }

    /** Every entry of every replica's journal for {@code identity} that has not expired at {@code now}. */
    public List<Entry> find(String identity, Instant now) {
        return findAll(dir, identity, now);
    }

    /** As {@link #find}, for tools without an open journal (the CLI). */
    public static List<Entry> findAll(Path issuedDir, String identity, Instant now) {
        List<Entry> out = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(issuedDir, "*.log")) {
            for (Path f : files) {
                for (Entry e : readFile(f)) {
                    if (e.identity().equals(identity) && e.notAfter().isAfter(now)) {
                        out.add(e);
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("issuance journals in " + issuedDir + ": " + e.getMessage(), e);
        }
        return out;
    }

    /** The entry for {@code serialHex} in any journal, or null. */
    public static Entry findSerial(Path issuedDir, String serialHex) {
        try (DirectoryStream<Path> files = Files.newDirectoryStream(issuedDir, "*.log")) {
            for (Path f : files) {
                for (Entry e : readFile(f)) {
                    if (e.serialHex().equals(serialHex)) {
                        return e;
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("issuance journals in " + issuedDir + ": " + e.getMessage(), e);
        }
        return null;
    }

    private static List<Entry> readFile(Path f) throws IOException {
        List<Entry> out = new ArrayList<>();
        for (String l : Files.readAllLines(f, StandardCharsets.UTF_8)) {
            String[] parts = l.split(" ", 3);
            if (parts.length != 3) {
                continue; // a torn last line of a crashed replica
            }
            try {
                out.add(new Entry(parts[0], Instant.ofEpochSecond(Long.parseLong(parts[1])), parts[2]));
            } catch (NumberFormatException e) {
                // skip
            }
        }
        return out;
    }

    @Override
    public void close() {
        synchronized (lock) {
            try {
                writer.close();
            } catch (IOException e) {
                // closing
            }
        }
    }

}
