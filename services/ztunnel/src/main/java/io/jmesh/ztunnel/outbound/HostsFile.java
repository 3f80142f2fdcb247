package io.jmesh.ztunnel.outbound;

import io.netty.resolver.HostsFileEntriesProvider;
import io.netty.resolver.HostsFileEntriesResolver;
import io.netty.resolver.ResolvedAddressTypes;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.io.StringReader;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The entries of a hosts file ({@code /etc/hosts}), followed while ztunnel runs: a lookup reads an immutable snapshot
 * (no lock, no I/O), and a worker thread checks the file every refresh interval, re-reading it only when its
 * modification time, size or inode changed. A file that cannot be read (missing, not UTF-8, ...) leaves the previous
 * entries in force, with one warning until it changes again; {@code ztunnel_hosts_file_reads_total{outcome}} counts
 * the reads ({@code ok}, {@code failed}). Names match without regard to case or a final dot;
 * both families are kept, as Netty's own hosts resolver does (whose refresh would read the file on an event loop).
 */
public final class HostsFile implements HostsFileEntriesResolver, AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(HostsFile.class);

    public static final Path SYSTEM = Path.of("/etc/hosts");
    public static final Duration REFRESH_INTERVAL = Duration.ofSeconds(5);

    private record Entries(Map<String, List<InetAddress>> v4, Map<String, List<InetAddress>> v6) {}

    /** How the file looked when last read, or {@code NOT_READABLE}: the next read waits for a change. */
    private record Stamp(FileTime modified, long size, Object inode) {}

    private static final Entries NONE = new Entries(Map.of(), Map.of());
    private static final Stamp NOT_READABLE = new Stamp(null, -1, null);

    private final Vertx vertx;
    private final Counter reads;
    private final Path file;
    private final long intervalMillis;
    private volatile Entries entries = NONE;
    private volatile Stamp seen;
    /** Checks done so far (tests wait on it). */
    private volatile long checks;
    private volatile long timer = -1;
    private volatile boolean closed;

    /** Reads {@code file} now (blocking: call off the event loop), then checks it every {@code refreshInterval}. */
    public HostsFile(Vertx vertx, Path file, Duration refreshInterval, PrometheusRegistry metrics) {
        this.vertx = vertx;
        this.reads = Counter.builder().name("ztunnel_hosts_file_reads_total")
                .help("Reads of the hosts file on-demand DNS answers from first, by outcome (failed: the entries "
                        + "last read stay)").labelNames("outcome").register(metrics);
        reads.labelValues("ok");
        reads.labelValues("failed");
        this.file = file;
        this.intervalMillis = Math.max(1, refreshInterval.toMillis());
        check();
        scheduleCheck();
    }

    /**
     * Every address listed for {@code hostname} of the families {@code types} asks for, the preferred one first;
     * null when the file does not list it.
     */
    public List<InetAddress> addresses(String hostname, ResolvedAddressTypes types) {
        Entries e = entries;
        String name = normalize(hostname);
        List<InetAddress> v4 = e.v4().get(name);
        List<InetAddress> v6 = e.v6().get(name);
        return switch (types) {
            case IPV4_ONLY -> v4;
            case IPV6_ONLY -> v6;
            case IPV4_PREFERRED -> both(v4, v6);
            case IPV6_PREFERRED -> both(v6, v4);
        };
    }

    @Override
    public InetAddress address(String hostname, ResolvedAddressTypes types) {
        List<InetAddress> all = addresses(hostname, types);
        return all == null ? null : all.get(0);
    }

    @Override
    public void close() {
        closed = true;
        vertx.cancelTimer(timer);
    }

    long checks() {
        return checks;
    }

    /** One timer at a time, set again once its check is over: checks never overlap, however slow the disk. */
    private void scheduleCheck() {
        if (closed) {
            return;
        }
        timer = vertx.setTimer(intervalMillis, id -> vertx.executeBlocking(() -> {
            if (!closed) {
                check();
            }
            return null;
        }, false).onComplete(done -> scheduleCheck()));
    }

    /** Re-reads the file if it changed since the last look (blocking). */
    private void check() {
        checks++; // one check at a time: no lost update
        Stamp now;
        try {
            BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
            now = new Stamp(a.lastModifiedTime(), a.size(), a.fileKey());
        } catch (IOException e) {
            now = NOT_READABLE;
        }
        if (now.equals(seen)) {
            return;
        }
        boolean first = seen == null;
        seen = now;
        try {
            entries = read(file);
            reads.labelValues("ok").inc();
            (first ? log.atDebug() : log.atInfo()).addKeyValue("file", file)
                    .addKeyValue("ipv4Names", entries.v4().size()).addKeyValue("ipv6Names", entries.v6().size())
                    .log(first ? "hosts file read" : "hosts file changed: read again");
        } catch (IOException | RuntimeException e) {
            reads.labelValues("failed").inc();
            log.atWarn().addKeyValue("file", file).addKeyValue("error", String.valueOf(e))
                    .log("hosts file unreadable: the entries last read stay in force");
        }
    }

    /** The file's entries, read as strict UTF-8: a bad byte fails the read rather than garbling a name unseen. */
    private static Entries read(Path file) throws IOException {
        String text = StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(Files.readAllBytes(file))).toString();
        HostsFileEntriesProvider parsed = HostsFileEntriesProvider.parser().parse(new StringReader(text));
        return new Entries(copy(parsed.ipv4Entries()), copy(parsed.ipv6Entries()));
    }

    private static Map<String, List<InetAddress>> copy(Map<String, List<InetAddress>> byName) {
        Map<String, List<InetAddress>> out = new HashMap<>();
        byName.forEach((name, addresses) -> out.merge(normalize(name), List.copyOf(addresses), HostsFile::both));
        return Map.copyOf(out);
    }

    private static String normalize(String hostname) {
        String name = hostname.toLowerCase(Locale.ROOT);
        return name.endsWith(".") ? name.substring(0, name.length() - 1) : name;
    }

    private static List<InetAddress> both(List<InetAddress> first, List<InetAddress> second) {
        if (first == null || second == null) {
            return first != null ? first : second;
        }
        List<InetAddress> out = new ArrayList<>(first);
        out.addAll(second);
        return List.copyOf(out);
    }
}
