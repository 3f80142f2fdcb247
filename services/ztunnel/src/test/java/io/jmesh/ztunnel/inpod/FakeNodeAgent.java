package io.jmesh.ztunnel.inpod;

import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Drives {@code src/test/python/fake_cni.py}, an independent stand-in for Istio's CNI node agent speaking ZDS (its
 * own protobuf encoder, Python's {@code sendmsg} with {@code SCM_RIGHTS}), one JSON line per command and result.
 */
final class FakeNodeAgent implements AutoCloseable {

    private final Process process;
    private final Writer commands;
    private final BlockingQueue<JsonObject> results = new LinkedBlockingQueue<>();
    private final BlockingQueue<JsonObject> events = new LinkedBlockingQueue<>();

    FakeNodeAgent(Path socket) throws IOException {
        Path script = Path.of("src/test/python/fake_cni.py").toAbsolutePath();
        process = new ProcessBuilder("python3", script.toString(), "--socket", socket.toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        commands = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(),
                    StandardCharsets.UTF_8))) {
                for (String line = r.readLine(); line != null; line = r.readLine()) {
                    JsonObject o = new JsonObject(line);
                    (o.containsKey("event") ? events : results).add(o);
                }
            } catch (IOException e) {
                // the process ended
            }
        }, "fake-cni-reader");
        reader.setDaemon(true);
        reader.start();
    }

    /** The next event ({@code listening}, {@code hello}, {@code disconnected}), waiting up to 30 s. */
    JsonObject event() throws InterruptedException {
        JsonObject e = events.poll(30, TimeUnit.SECONDS);
        if (e == null) {
            throw new AssertionError("no event from the fake node agent within 30 s");
        }
        return e;
    }

    /** Sends one command and returns its result line. */
    JsonObject send(JsonObject command) throws IOException, InterruptedException {
        commands.write(command.encode() + "\n");
        commands.flush();
        JsonObject r = results.poll(45, TimeUnit.SECONDS);
        if (r == null) {
            throw new AssertionError("no answer from the fake node agent to " + command.encode());
        }
        return r;
    }

    JsonObject add(String uid, String netns, String name, String serviceAccount) throws Exception {
        return send(new JsonObject().put("op", "add").put("uid", uid).put("netns", netns).put("name", name)
                .put("namespace", "default").put("serviceAccount", serviceAccount));
    }

    @Override
    public void close() throws Exception {
        try {
            commands.write("{\"op\":\"quit\"}\n");
            commands.flush();
        } catch (IOException e) {
            // already gone
        }
        if (!process.waitFor(5, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
    }
}
