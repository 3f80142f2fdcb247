package io.jmesh.core.tls;

import io.prometheus.metrics.core.metrics.Counter;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Watches a few files that only make sense together (a certificate and its key; a roots bundle) and applies their
 * new content when it changes. Kubernetes rewrites a mounted Secret or ConfigMap in place when it is updated;
 * without this a long-running service would keep serving a certificate until it expired, or stop trusting a peer
 * whose certificate moved to a new root.
 *
 * <p>Every {@code interval} the files are read on a worker thread. Content that differs from the last content
 * tried is parsed and checked by {@code parse}; then {@code apply} swaps it in. Content that fails either step is
 * logged once, counted ({@code outcome="invalid"} or {@code "apply_failed"}), and the previous material stays in
 * force; it is tried again only when the files change again (a half-written pair is completed by the next
 * write). A file that cannot be read is treated like invalid content.
 *
 * @param <T> the checked material
 */
public final class ReloadedFiles<T> implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ReloadedFiles.class);

    /** Parses and checks the files' contents, in the order given; throws with a message naming what is wrong. */
    public interface Parser<T> {
        T parse(List<String> contents);
    }

    private final Vertx vertx;
    private final io.vertx.core.Context context;
    private final String what;
    private final List<Path> files;
    private final Parser<T> parse;
    private final Function<T, Future<?>> apply;
    private final Counter outcomes;
    private final long timerId;
    /** Content last tried (successfully or not); touched only on {@link #context}. */
    private List<String> lastTried;
    private volatile T current;
    private boolean checking;
    private volatile boolean closed;

    /**
     * Starts watching. {@code initial} is what is in force now, read from {@code initialContents}.
     *
     * @param what the label of {@code outcomes} and the name in log lines, e.g. {@code serving_certificate}
     */
    public ReloadedFiles(Vertx vertx, String what, List<Path> files, List<String> initialContents, T initial,
            Duration interval, Counter outcomes, Parser<T> parse, Function<T, Future<?>> apply) {
        this.vertx = vertx;
        this.context = vertx.getOrCreateContext();
        this.what = what;
        this.files = List.copyOf(files);
        this.parse = parse;
        this.apply = apply;
        this.outcomes = outcomes;
        this.lastTried = List.copyOf(initialContents);
        this.current = initial;
        for (String outcome : List.of("applied", "invalid", "apply_failed")) {
            outcomes.labelValues(what, outcome);
        }
        this.timerId = vertx.setPeriodic(Math.max(1, interval.toMillis()), id -> check());
    }

    /**
     * Registers the counter every watcher of a service shares: {@code <service>_tls_reloads_total{material,outcome}}.
     */
    public static Counter outcomes(io.prometheus.metrics.model.registry.PrometheusRegistry registry, String service) {
        return Counter.builder().name(service + "_tls_reloads_total")
                .help("Changed TLS files read again, by material and outcome (applied, invalid, apply_failed)")
                .labelNames("material", "outcome").register(registry);
    }

    /** The material in force. */
    public T current() {
        return current;
    }

    /**
     * Reads the files now and applies them if they changed and are valid.
     *
     * @return whether new material was applied
     */
    public Future<Boolean> check() {
        // the read on a worker; everything else on this watcher's context, one check at a time
        return context.<Read>executeBlocking(this::read, false).compose(r -> {
            // closed meanwhile (a check already under way): its owner is gone, and so may be its files
            if (closed || checking || r.contents().equals(lastTried)) {
                return Future.succeededFuture(false);
            }
            lastTried = r.contents();
            if (r.error() != null) {
                refuse("invalid", r.error());
                return Future.succeededFuture(false);
            }
            T parsed;
            try {
                parsed = parse.parse(r.contents());
            } catch (RuntimeException e) {
                refuse("invalid", e.getMessage());
                return Future.succeededFuture(false);
            }
            checking = true;
            return apply.apply(parsed).<Boolean>map(v -> {
                current = parsed;
                outcomes.labelValues(what, "applied").inc();
                log.atInfo().addKeyValue("files", files.toString()).log("{} reloaded", what);
                return true;
            }).recover(e -> {
                refuse("apply_failed", e.getMessage());
                return Future.succeededFuture(false);
            }).eventually(() -> {
                checking = false;
                return Future.succeededFuture();
            });
        });
    }

    /** The files' contents; for a file that cannot be read, a marker naming it and {@code error}. */
    private record Read(List<String> contents, String error) {}

    private Read read() {
        List<String> out = new ArrayList<>(files.size());
        for (Path f : files) {
            try {
                out.add(Files.readString(f));
            } catch (java.io.IOException | RuntimeException e) {
                String error = f + ": unreadable (" + e + ")";
                return new Read(List.of("\0" + error), error);
            }
        }
        return new Read(out, null);
    }

    private void refuse(String outcome, String reason) {
        outcomes.labelValues(what, outcome).inc();
        log.atWarn().addKeyValue("files", files.toString())
                .log("{} not reloaded, the one in force stays: {}", what, reason);
    }

    @Override
    public void close() {
        closed = true;
        vertx.cancelTimer(timerId);
    }
}
