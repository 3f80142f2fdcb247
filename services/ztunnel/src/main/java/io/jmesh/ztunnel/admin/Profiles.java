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
import java.time.Instant;
import java.util.concurrent.atomic.AtomicBoolean;
import jdk.jfr.Configuration;
import jdk.jfr.Recording;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Istio's ztunnel {@code /debug/pprof/profile} and {@code /debug/pprof/heap}, in the JVM's own formats, which its
 * tools read (JDK Mission Control, {@code jfr print}, IntelliJ, Eclipse MAT, VisualVM):
 *
 * <ul>
 *   <li>{@code GET /debug/pprof/profile[?seconds=N]}: a CPU profile over N seconds (default 10, as Istio's; 1 to 60),
 *       a JDK Flight Recorder recording with the JDK's "profile" settings (method samples every 10 ms, allocation
 *       and lock samples), answered once the time is up.</li>
 *   <li>{@code GET /debug/pprof/heap}: the live heap as an HPROF dump. Writing it stops the process, traffic
 *       included, for about as long as it takes to write the live heap (tens of MB: well under a second here).</li>
 * </ul>
 *
 * <p>One of each at a time (another is 409). Each is written to a temporary file (off the event loop), sent, and
 * deleted; nothing stays behind, a client that goes away included.
 */
final class Profiles {

    private static final Logger log = LoggerFactory.getLogger(Profiles.class);
    static final int DEFAULT_SECONDS = 10;
    static final int MAX_SECONDS = 60;

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
        try {
            seconds = seconds(req.getParam("seconds"));
        } catch (IllegalArgumentException e) {
            text(req, 400, e.getMessage() + "\n");
            return;
        }
        if (!profiling.compareAndSet(false, true)) {
            text(req, 409, "a profile is being recorded: ask again once it is done\n");
            return;
        }
        log.atInfo().addKeyValue("seconds", seconds).log("recording a CPU profile for /debug/pprof/profile");
        answer(req, vertx.executeBlocking(Profiles::startRecording, false)
                .compose(r -> vertx.timer(seconds * 1000L).compose(v -> vertx.executeBlocking(() -> dump(r), false))),
                profiling, "profile", ".jfr");
    }

    void heap(HttpServerRequest req) {
        if (req.method() != HttpMethod.GET) {
            text(req, 405, "use GET\n");
            return;
        }
        if (!dumping.compareAndSet(false, true)) {
            text(req, 409, "a heap dump is being written: ask again once it is done\n");
            return;
        }
        log.atInfo().log("writing a heap dump for /debug/pprof/heap (the process stops while it is written)");
        answer(req, vertx.executeBlocking(Profiles::dumpHeap, false), dumping, "heap dump", ".hprof");
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

    private static Recording startRecording() throws IOException, ParseException {
        Recording r = new Recording(Configuration.getConfiguration("profile"));
        r.setName("ztunnel /debug/pprof/profile");
        r.setToDisk(true);
        r.start();
        return r;
    }

    /** Stops {@code r} and writes it to a file of its own in a new temporary directory. */
    private static Path dump(Recording r) throws IOException {
        try {
            r.stop();
            Path file = Files.createTempDirectory("ztunnel-profile-").resolve("profile.jfr");
            try {
                r.dump(file);
            } catch (IOException | RuntimeException e) {
                deleteAfter(file, e);
                throw e;
            }
            return file;
        } finally {
            r.close();
        }
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
