package io.jmesh.ztunnel.admin;

import com.sun.management.HotSpotDiagnosticMXBean;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.ParseException;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.management.ObjectName;
import jdk.jfr.Configuration;
import jdk.jfr.Recording;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Istio's ztunnel {@code /debug/pprof/profile} and {@code /debug/pprof/heap}:
 *
 * <ul>
 *   <li>{@code GET /debug/pprof/profile[?seconds=N][&format=pprof|jfr]}: a CPU profile over N seconds (default 10, as
 *       Istio's; 1 to 60), recorded by the JDK Flight Recorder with the JDK's "profile" settings (method samples
 *       every {@value #SAMPLE_PERIOD_MS} ms, allocation and lock samples) and answered once the time is up: by default
 *       in pprof's format, as Istio's ztunnel answers ({@link PprofProfile}: the method samples), with
 *       {@code format=jfr} the whole recording (JDK Mission Control, {@code jfr print}, IntelliJ).</li>
 *   <li>{@code GET /debug/pprof/heap[?format=pprof|hprof]}: the live heap, by default in pprof's format as Istio's
 *       answers (by class: the JVM's class histogram after a full collection, {@link PprofProfile#heap}), with
 *       {@code format=hprof} a dump of every live object (Eclipse MAT, VisualVM). Either stops the process, traffic
 *       included: the histogram for a full collection and a walk of the heap (0.26 s for the whole request on
 *       node-a of {@code make run}, ~10 MiB live), the dump for as long as writing the live heap takes (tens of MB:
 *       well under a second here).</li>
 * </ul>
 *
 * <p>One of each at a time (another is 409). Each is written to a temporary file (off the event loop), sent, and
 * deleted; nothing stays behind, a client that goes away included.
 */
final class Profiles {

    private static final Logger log = LoggerFactory.getLogger(Profiles.class);
    static final int DEFAULT_SECONDS = 10;
    static final int MAX_SECONDS = 60;
    /** How often the recording samples each thread running Java code (the JDK's "profile" settings say 10 ms). */
    static final int SAMPLE_PERIOD_MS = 10;

    private final Vertx vertx;
    private final AtomicBoolean profiling = new AtomicBoolean();
    private final AtomicBoolean dumping = new AtomicBoolean();

    Profiles(Vertx vertx) {
        this.vertx = vertx;
    }

    void profile(HttpServerRequest req) {
        if (req.method() != HttpMethod.GET) {
            text(req, 405, "use GET\n");
            return;
        }
        int seconds;
        boolean pprof;
        try {
            seconds = seconds(req.getParam("seconds"));
            pprof = pprof(req.getParam("format"), "jfr");
        } catch (IllegalArgumentException e) {
            text(req, 400, e.getMessage() + "\n");
            return;
        }
        if (!profiling.compareAndSet(false, true)) {
            text(req, 409, "a profile is being recorded: ask again once it is done\n");
            return;
        }
        log.atInfo().addKeyValue("seconds", seconds).addKeyValue("format", pprof ? "pprof" : "jfr")
                .log("recording a CPU profile for /debug/pprof/profile");
        answer(req, vertx.executeBlocking(Profiles::startRecording, false)
                .compose(r -> vertx.timer(seconds * 1000L).compose(v -> vertx.executeBlocking(() -> dump(r, pprof),
                        false))), profiling, "profile", pprof ? ".pb" : ".jfr");
    }

    void heap(HttpServerRequest req) {
        if (req.method() != HttpMethod.GET) {
            text(req, 405, "use GET\n");
            return;
        }
        boolean pprof;
        try {
            pprof = pprof(req.getParam("format"), "hprof");
        } catch (IllegalArgumentException e) {
            text(req, 400, e.getMessage() + "\n");
            return;
        }
        if (!dumping.compareAndSet(false, true)) {
            text(req, 409, "a heap profile is being written: ask again once it is done\n");
            return;
        }
        log.atInfo().addKeyValue("format", pprof ? "pprof" : "hprof")
                .log("writing the heap for /debug/pprof/heap (the process stops while the heap is walked)");
        answer(req, vertx.executeBlocking(pprof ? Profiles::heapByClass : Profiles::dumpHeap, false), dumping,
                "heap profile", pprof ? ".pb" : ".hprof");
    }

    /** Sends the file {@code written} gives (or 500 naming why it failed), then frees {@code busy}. */
    private void answer(HttpServerRequest req, Future<Path> written, AtomicBoolean busy, String what, String suffix) {
        written.onComplete(ar -> {
            if (ar.failed()) {
                busy.set(false);
                text(req, 500, what + " failed: " + ar.cause() + "\n");
                return;
            }
            send(req, ar.result(), "ztunnel-" + Instant.now().getEpochSecond() + suffix)
                    .onComplete(sent -> busy.set(false));
        });
    }

    /** {@code ?seconds=}: absent for the default, else a whole number from 1 to {@link #MAX_SECONDS}. */
    static int seconds(String param) {
        if (param == null || param.isEmpty()) {
            return DEFAULT_SECONDS;
        }
        try {
            int s = Integer.parseInt(param);
            if (s >= 1 && s <= MAX_SECONDS) {
                return s;
            }
        } catch (NumberFormatException e) {
            // below
        }
        throw new IllegalArgumentException("seconds: '" + param + "' (expected: a whole number of seconds from 1 to "
                + MAX_SECONDS + ")");
    }

    /** {@code ?format=}: absent or {@code pprof} for pprof, {@code other} for the JVM's own format. */
    static boolean pprof(String param, String other) {
        if (param == null || param.isEmpty() || param.equals("pprof")) {
            return true;
        }
        if (param.equals(other)) {
            return false;
        }
        throw new IllegalArgumentException("format: '" + param + "' (expected: pprof or " + other + ")");
    }

    private static Recording startRecording() throws IOException, ParseException {
        Map<String, String> settings = new HashMap<>(Configuration.getConfiguration("profile").getSettings());
        // the profile settings' own period, made explicit: each pprof sample stands for this much CPU time
        settings.put("jdk.ExecutionSample#period", SAMPLE_PERIOD_MS + " ms");
        Recording r = new Recording(settings);
        r.setName("ztunnel /debug/pprof/profile");
        r.setToDisk(true);
        r.start();
        return r;
    }

    /**
     * Stops {@code r} and writes it to a file of its own in a new temporary directory: the recording, or the pprof
     * profile made from it (the recording is then deleted at once).
     */
    private static Path dump(Recording r, boolean pprof) throws IOException {
        try {
            r.stop();
            Path file = Files.createTempDirectory("ztunnel-profile-").resolve("profile.jfr");
            try {
                r.dump(file);
                if (!pprof) {
                    return file;
                }
                Path profile = file.resolveSibling("profile.pb");
                try {
                    PprofProfile.cpu(file, Duration.ofMillis(SAMPLE_PERIOD_MS)).write(profile, r.getStartTime(),
                            Duration.between(r.getStartTime(), r.getStopTime()));
                } catch (IOException | RuntimeException e) {
                    Files.deleteIfExists(profile); // the recording and the directory go below
                    throw e;
                }
                Files.delete(file);
                return profile;
            } catch (IOException | RuntimeException e) {
                deleteAfter(file, e);
                throw e;
            }
        } finally {
            r.close();
        }
    }

    /** The live heap by class, in pprof's format, in a file of its own in a new temporary directory. */
    private static Path heapByClass() throws Exception {
        Instant start = Instant.now();
        String histogram = (String) ManagementFactory.getPlatformMBeanServer().invoke(
                new ObjectName("com.sun.management:type=DiagnosticCommand"), "gcClassHistogram",
                new Object[] {new String[0]}, new String[] {String[].class.getName()});
        PprofProfile heap = PprofProfile.heap(histogram);
        Path file = Files.createTempDirectory("ztunnel-heap-").resolve("heap.pb");
        try {
            heap.write(file, start, Duration.between(start, Instant.now()));
        } catch (IOException | RuntimeException e) {
            deleteAfter(file, e);
            throw e;
        }
        return file;
    }

    private static Path dumpHeap() throws IOException {
        // dumpHeap refuses a file that exists: a name in a directory of its own
        Path file = Files.createTempDirectory("ztunnel-heap-").resolve("heap.hprof");
        try {
            ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class).dumpHeap(file.toString(), true);
        } catch (IOException | RuntimeException e) {
            deleteAfter(file, e); // a disk that filled up must not keep what was written
            throw e;
        }
        return file;
    }

    /** {@link #delete} after {@code failure}, to which a failure to delete is added. */
    private static void deleteAfter(Path file, Exception failure) {
        try {
            delete(file);
        } catch (IOException e) {
            failure.addSuppressed(e);
        }
    }

    /** Deletes {@code file} and its directory, as far as they exist. */
    private static void delete(Path file) throws IOException {
        Files.deleteIfExists(file);
        Files.deleteIfExists(file.getParent());
    }

    /** Sends {@code file} as an attachment, then deletes it and its directory, whatever became of the request. */
    private Future<Void> send(HttpServerRequest req, Path file, String name) {
        Future<Void> sent = req.response().putHeader("content-type", "application/octet-stream")
                .putHeader("content-disposition", "attachment; filename=\"" + name + "\"")
                .sendFile(file.toString());
        return sent.transform(ar -> vertx.executeBlocking(() -> {
            delete(file);
            return null;
        }, false)).mapEmpty();
    }

    private static void text(HttpServerRequest req, int status, String body) {
        req.response().setStatusCode(status).putHeader("content-type", "text/plain").end(body);
    }
}
