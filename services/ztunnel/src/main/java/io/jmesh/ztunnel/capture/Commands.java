package io.jmesh.ztunnel.capture;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs {@code nft} and {@code ip}: blocking, bounded in time, so only ever called on a worker thread. A command
 * that cannot start, exits non-zero or overruns the timeout is a {@link CommandFailure} carrying its output.
 */
public interface Commands {

    /** Runs {@code command} with {@code stdin} (may be empty) and returns its output; throws on failure. */
    String run(List<String> command, String stdin) throws CommandFailure;

    /** A failed command: {@code reason} is a metric label ({@code exit}, {@code timeout}, {@code spawn}). */
    final class CommandFailure extends Exception {
        private final String reason;

        public CommandFailure(String reason, String message) {
            super(message);
            this.reason = reason;
        }

        public String reason() {
            return reason;
        }
    }

    /** Real processes, each given at most {@code timeout}. */
    static Commands processes(Duration timeout) {
        return (command, stdin) -> {
            Path out = null;
            try {
                out = Files.createTempFile("ztunnel-cmd", ".out");
                Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile()).start();
                try (OutputStream in = p.getOutputStream()) {
                    in.write(stdin.getBytes(StandardCharsets.UTF_8));
                }
                if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                    p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                    throw new CommandFailure("timeout", String.join(" ", command) + ": no answer within "
                            + timeout.toMillis() + " ms");
                }
                String output = Files.readString(out, StandardCharsets.UTF_8).strip();
                if (p.exitValue() != 0) {
                    throw new CommandFailure("exit", String.join(" ", command) + " exited with " + p.exitValue()
                            + ": " + output);
                }
                return output;
            } catch (IOException e) {
                throw new CommandFailure("spawn", String.join(" ", command) + ": " + e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CommandFailure("interrupted", String.join(" ", command) + ": interrupted");
            } finally {
                if (out != null) {
                    try {
                        Files.deleteIfExists(out);
                    } catch (IOException ignored) {
                        // a temp file left behind is harmless
                    }
                }
            }
        };
    }
}
