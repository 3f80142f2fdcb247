package io.jmesh.core.identity;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Supplier;

/**
 * A bearer token kept in a file that something else rotates: a Kubernetes projected ServiceAccount token (the
 * kubelet replaces it well before it expires) or a token the ca CLI wrote. Each call reads the file again, so a
 * long-running service presents the current token and never one that expired while it ran. Calls are rare (one per
 * CSR, discovery stream or token review) and the file is a small one on tmpfs.
 */
public final class BearerTokenFile implements Supplier<String> {

    private final Path file;

    private BearerTokenFile(Path file) {
        this.file = file;
    }

    /**
     * The token in {@code file}, read at each {@link #get}; an empty name gives a supplier of "" (no token).
     */
    public static Supplier<String> of(String file) {
        if (file == null || file.isBlank()) {
            return () -> "";
        }
        return new BearerTokenFile(Path.of(file));
    }

    /** The file's current content, without surrounding whitespace (a trailing newline is common). */
    @Override
    public String get() {
        try {
            return Files.readString(file, StandardCharsets.UTF_8).trim();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the token file " + file, e);
        }
    }
}
