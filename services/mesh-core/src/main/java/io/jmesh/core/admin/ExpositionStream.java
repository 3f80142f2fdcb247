package io.jmesh.core.admin;

import io.vertx.core.Context;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerResponse;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The body of one streamed response, written from a worker thread: bytes are gathered into chunks of
 * {@link #CHUNK_BYTES}, each handed to the response on its event loop; while the response's write queue is full the
 * writer waits (on its worker thread, never on the event loop) for the drain handler. A scraper that reads nothing
 * for {@link #DRAIN_TIMEOUT_SECONDS} or goes away fails the write, which ends the production.
 */
final class ExpositionStream extends OutputStream {

    static final int CHUNK_BYTES = 64 * 1024;
    /** Longer than any scrape timeout (Prometheus' default is 10 s): a scraper this slow has given up. */
    static final long DRAIN_TIMEOUT_SECONDS = 60;

    private final Context context;
    private final HttpServerResponse response;
    private final byte[] chunk = new byte[CHUNK_BYTES];
    private int used;
    // event loop only
    private String aborted;
    private CompletableFuture<Void> waiting;

    ExpositionStream(Context context, HttpServerResponse response) {
        this.context = context;
        this.response = response;
    }

    @Override
    public void write(int b) throws IOException {
        if (used == chunk.length) {
            send();
        }
        chunk[used++] = (byte) b;
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
        while (len > 0) {
            if (used == chunk.length) {
                send();
            }
            int n = Math.min(len, chunk.length - used);
            System.arraycopy(b, off, chunk, used, n);
            used += n;
            off += n;
            len -= n;
        }
    }

    /** Sends what is gathered; the caller then ends the response. */
    void finish() throws IOException {
        if (used > 0) {
            send();
        }
    }

    /** The connection is gone: a writer waiting for it to drain stops. Event loop only. */
    void abort(String why) {
        aborted = why;
        if (waiting != null) {
            waiting.completeExceptionally(new IOException(why));
        }
    }

    /** Hands the gathered chunk to the response, then waits until the connection can take more. */
    private void send() throws IOException {
        Buffer buffer = Buffer.buffer(used).appendBytes(chunk, 0, used);
        used = 0;
        CompletableFuture<Void> sent = new CompletableFuture<>();
        context.runOnContext(v -> {
            if (aborted != null) {
                sent.completeExceptionally(new IOException(aborted));
                return;
            }
            response.write(buffer);
            if (response.writeQueueFull()) {
                waiting = sent;
                response.drainHandler(x -> {
                    waiting = null;
                    sent.complete(null);
                });
            } else {
                sent.complete(null);
            }
        });
        try {
            sent.get(DRAIN_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("metrics: interrupted while the scraper was reading");
        } catch (ExecutionException e) {
            throw new IOException("metrics: " + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new IOException("metrics: the scraper read nothing for " + DRAIN_TIMEOUT_SECONDS + " s");
        }
    }
}
