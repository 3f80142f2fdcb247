package io.jmesh.ztunnel.outbound;

import io.jmesh.core.tls.ReloadedFiles;
import io.netty.resolver.HostsFileEntriesProvider;
import io.netty.resolver.HostsFileEntriesResolver;
import io.netty.resolver.ResolvedAddressTypes;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The entries of a hosts file ({@code /etc/hosts}), followed while ztunnel runs: a lookup reads an immutable snapshot
 * (no lock, no I/O); the file is watched by mesh-core's {@link ReloadedFiles} (read on a worker every refresh
 * interval, parsed again when its content changed; content that cannot be read or decoded as UTF-8 leaves the
 * entries in force, with one warning until it changes again, counted in
 * {@code ztunnel_hosts_file_reloads_total{material="hosts_file",outcome}}). Names match without regard to case or a
 * final dot; both families are kept, as Netty's own hosts resolver does (whose refresh would read the file on an
 * event loop).
 */
public final class HostsFile implements HostsFileEntriesResolver, AutoCloseable {

    public static final Path SYSTEM = Path.of("/etc/hosts");
    public static final Duration REFRESH_INTERVAL = Duration.ofSeconds(5);

    private record Entries(Map<String, List<InetAddress>> v4, Map<String, List<InetAddress>> v6) {}

    private static final Entries NONE = new Entries(Map.of(), Map.of());

    private final ReloadedFiles<Entries> watch;

    /**
     * Reads {@code file} now (blocking: call off the event loop), then checks it every {@code refreshInterval}. A file
     * that cannot be read now lists nothing until it can (the first check warns about it).
     */
    public HostsFile(Vertx vertx, Path file, Duration refreshInterval, PrometheusRegistry metrics) {
        Counter reloads = Counter.builder().name("ztunnel_hosts_file_reloads_total")
                .help("Changed hosts file read again (on-demand DNS answers from it first), by outcome (applied, "
                        + "invalid: the entries last read stay)").labelNames("material", "outcome").register(metrics);
        List<String> initialContents = List.of();
        Entries initial = NONE;
        try {
            initialContents = List.of(Files.readString(file));
            initial = parse(initialContents);
        } catch (IOException | RuntimeException e) {
            initialContents = List.of(); // differs from any read: the first check reports it
            initial = NONE;
        }
        watch = new ReloadedFiles<>(vertx, "hosts_file", List.of(file), initialContents, initial, refreshInterval,
                reloads, HostsFile::parse, entries -> Future.succeededFuture());
    }

    /**
     * Every address listed for {@code hostname} of the families {@code types} asks for, the preferred one first;
     * null when the file does not list it.
     */
    public List<InetAddress> addresses(String hostname, ResolvedAddressTypes types) {
        Entries e = watch.current();
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

    /** Reads the file now, as the timer would (tests). */
    Future<Boolean> check() {
        return watch.check();
    }

    @Override
    public void close() {
        watch.close();
    }

    private static Entries parse(List<String> contents) {
        try {
            HostsFileEntriesProvider parsed = HostsFileEntriesProvider.parser().parse(new StringReader(contents.get(0)));
            return new Entries(copy(parsed.ipv4Entries()), copy(parsed.ipv6Entries()));
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a StringReader does not fail
        }
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
