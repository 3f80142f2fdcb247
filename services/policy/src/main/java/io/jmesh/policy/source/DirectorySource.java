package io.jmesh.policy.source;

import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.core.lifecycle.BackgroundThread;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.policy.v1.ApplyResult;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A directory of YAML manifests ({@code *.yaml}, {@code *.yml}, recursively), rescanned every poll interval on
 * its own thread. A new or changed file is applied; objects that a file no longer holds, or whose file is gone,
 * are deleted. A file with a rejected document deletes nothing (the last good objects stay) and its errors are
 * logged with their field paths. At start, objects this directory wrote earlier whose files disappeared while
 * the replica was down are deleted too.
 *
 * <p>A changed file is applied once it has settled: last modified at least {@value #SETTLE_MILLIS} ms before the
 * scan. A file caught while an editor or a copy writes it (truncated to nothing, half a document) would otherwise be
 * applied as it is then: its objects deleted, or a policy cut short, until the next scan.
 *
 * <p>Polling rather than inotify: it also works on network and container-mounted volumes (ConfigMaps swap
 * symlinks), and the cost of hashing a few manifest files every couple of seconds is negligible.
 */
public final class DirectorySource implements ConfigSource {

    private static final Logger log = LoggerFactory.getLogger(DirectorySource.class);
    private static final Duration WRITE_TIMEOUT = Duration.ofSeconds(30);
    static final long SETTLE_MILLIS = 500;

    private final Path dir;
    private final Duration pollInterval;
    private final ScheduledExecutorService executor;
    // owned by the executor thread
    private final Map<Path, String> contents = new HashMap<>();
    private final Map<Path, Set<ConfigKey>> keysByFile = new HashMap<>();
    private ConfigSink sink;
    private boolean firstScan = true;

    public DirectorySource(Path dir, Duration pollInterval) {
        this.dir = dir.toAbsolutePath().normalize();
        this.pollInterval = pollInterval;
        this.executor = BackgroundThread.named("policy-manifests");
    }

    @Override
    public String name() {
        return "file:" + dir;
    }

    @Override
    public void start(ConfigSink sink) {
        this.sink = sink;
        executor.scheduleWithFixedDelay(this::scanSafely, 0, pollInterval.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void scanSafely() {
        try {
            scan();
        } catch (RuntimeException | IOException e) {
            log.atWarn().setCause(e).addKeyValue("dir", dir).log("manifest scan failed; retrying next interval");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void scan() throws IOException, InterruptedException {
        Map<Path, String> now = new TreeMap<>();
        if (Files.isDirectory(dir)) {
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path f : (Iterable<Path>) files.filter(DirectorySource::isManifest)::iterator) {
                    try {
                        now.put(f, Files.readString(f, StandardCharsets.UTF_8));
                    } catch (IOException e) {
                        log.atWarn().addKeyValue("file", f).log("cannot read manifest: {}", e.getMessage());
                        if (contents.containsKey(f)) {
                            now.put(f, contents.get(f)); // keep what it held rather than delete on a read glitch
                        }
                    }
                }
            }
        }
        for (Map.Entry<Path, String> e : now.entrySet()) {
            if (!e.getValue().equals(contents.get(e.getKey())) && settled(e.getKey())) {
                applyFile(e.getKey(), e.getValue());
            }
        }
        for (Path gone : new HashSet<>(contents.keySet())) {
            if (!now.containsKey(gone)) {
                log.atInfo().addKeyValue("file", gone).log("manifest removed; deleting its objects");
                for (ConfigKey k : keysByFile.getOrDefault(gone, Set.of())) {
                    await(sink.delete(k, false));
                }
                keysByFile.remove(gone);
                contents.remove(gone);
            }
        }
        if (firstScan) {
            firstScan = false;
            deleteOrphans(now.keySet());
        }
    }

    /** Whether {@code file} was last modified long enough ago that no one is writing it (see the class comment). */
    private static boolean settled(Path file) {
        try {
            long age = System.currentTimeMillis() - Files.getLastModifiedTime(file).toMillis();
            // a time in the future (a network volume's clock) tells nothing: applied rather than waited on forever
            if (age >= 0 && age < SETTLE_MILLIS) {
                log.atDebug().addKeyValue("file", file).log("changed {} ms ago; applying once settled", age);
                return false;
            }
            return true;
        } catch (IOException e) {
            return false; // gone or unreadable this instant: the next scan decides
        }
    }

    private void applyFile(Path file, String text) throws InterruptedException {
        List<ApplyResult> results = await(sink.apply(List.of(text), "file:" + file, false));
        contents.put(file, text);
        if (results == null) {
            contents.remove(file); // not written: try again next scan
            return;
        }
        Set<ConfigKey> keys = new HashSet<>();
        boolean allAccepted = true;
        for (ApplyResult r : results) {
            if (r.getAccepted()) {
                keys.add(new ConfigKey(r.getKind(), r.getNamespace(), r.getName()));
                r.getWarningsList().forEach(w -> log.atWarn().addKeyValue("file", file)
                        .addKeyValue("object", r.getKind() + "/" + r.getNamespace() + "/" + r.getName()).log(w));
            } else {
                allAccepted = false;
                r.getErrorsList().forEach(e -> log.atWarn().addKeyValue("file", file)
                        .addKeyValue("document", r.getDocumentIndex()).addKeyValue("path", e.getPath())
                        .log("manifest rejected: {}", e.getMessage()));
            }
        }
        // first applied since start: what it held before is what the log says it wrote
        Set<ConfigKey> previous = keysByFile.containsKey(file) ? keysByFile.get(file) : writtenFrom(file);
        if (allAccepted) {
            for (ConfigKey k : previous) {
                if (!keys.contains(k)) {
                    await(sink.delete(k, false));
                }
            }
            keysByFile.put(file, keys);
        } else {
            Set<ConfigKey> kept = new HashSet<>(previous);
            kept.addAll(keys);
            keysByFile.put(file, kept);
        }
    }

    private Set<ConfigKey> writtenFrom(Path file) {
        Set<ConfigKey> out = new HashSet<>();
        String source = "file:" + file;
        sink.inForce().records().forEach((k, r) -> {
            if (source.equals(r.getSource())) {
                out.add(k);
            }
        });
        return out;
    }

    /**
     * Objects this directory wrote before a restart whose files are gone now ({@code present}: the files there now;
     * what a present file no longer holds is its own first application's to delete, once it has settled).
     */
    private void deleteOrphans(Set<Path> present) throws InterruptedException {
        Set<ConfigKey> live = new HashSet<>();
        keysByFile.values().forEach(live::addAll);
        Set<String> presentSources = new HashSet<>();
        present.forEach(f -> presentSources.add("file:" + f));
        String prefix = "file:" + dir + "/";
        for (Map.Entry<ConfigKey, ConfigRecord> e : sink.inForce().records().entrySet()) {
            String source = e.getValue().getSource();
            if (source.startsWith(prefix) && !live.contains(e.getKey()) && !presentSources.contains(source)) {
                log.atInfo().addKeyValue("object", e.getKey()).log("manifest gone while down; deleting");
                await(sink.delete(e.getKey(), false));
            }
        }
    }

    private static boolean isManifest(Path p) {
        String n = p.getFileName().toString();
        return Files.isRegularFile(p) && !n.startsWith(".") && (n.endsWith(".yaml") || n.endsWith(".yml"));
    }

    private <T> T await(java.util.concurrent.CompletableFuture<T> f) throws InterruptedException {
        try {
            return f.get(WRITE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            log.atWarn().addKeyValue("dir", dir).log("config log write failed: {}", e.getMessage());
            return null;
        }
    }

    @Override
    public void close() {
        executor.shutdownNow();
    }
}
