package io.jmesh.core.logging;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.LoggingEvent;
import ch.qos.logback.core.UnsynchronizedAppenderBase;
import io.jmesh.core.handoff.Doorbell;
import io.netty.util.internal.PlatformDependent;
import java.io.ByteArrayOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.time.Duration;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.event.KeyValuePair;

/**
 * JSON lines to standard output from one writer thread, never blocking the thread that logs: an event loop that
 * logs an access line (one per connection in ztunnel) only prepares the event and offers it to a bounded lock-free
 * queue. The writer encodes what gathered and writes it with one system call per round, and naps after a round
 * ({@link Doorbell}), so under thousands of lines a second no logging thread wakes it per line. logback's
 * {@code AsyncAppender} in front of its {@code ConsoleAppender} took a lock and signalled the writer for every
 * line, and wrote (and flushed) each line on its own.
 *
 * <p>A full queue drops the line; the writer then says how many in a line of its own
 * ({@code "log lines dropped"}, with {@code dropped}), so a loss is never silent.
 */
final class JsonLinesAppender extends UnsynchronizedAppenderBase<ILoggingEvent> {

    /** What a round writes at most before it writes it out (a bounded buffer, whatever the backlog). */
    private static final int WRITE_CHUNK = 64 * 1024;
    /** Lines wait at most this long after a busy round. */
    static final Duration NAP = Duration.ofMillis(5);
    /** How long stop waits for the writer to write what was queued. */
    private static final long STOP_WAIT_MILLIS = 2000;

    private final Queue<ILoggingEvent> queue;
    private final OutputStream out;
    private final JsonEncoder encoder = new JsonEncoder();
    private final Doorbell doorbell;
    private final AtomicLong dropped = new AtomicLong();
    private final ByteArrayOutputStream pending = new ByteArrayOutputStream(WRITE_CHUNK);
    private final JsonEncoder.Lines lines = encoder.new Lines(pending);
    private volatile boolean running;
    private Thread writer;

    /** Lines to standard output, at most {@code capacity} waiting. */
    JsonLinesAppender(int capacity) {
        this(capacity, new FileOutputStream(FileDescriptor.out), NAP);
    }

    /** Lines to {@code out}, a busy writer napping {@code nap} (tests). */
    JsonLinesAppender(int capacity, OutputStream out, Duration nap) {
        this.queue = PlatformDependent.newFixedMpscQueue(capacity);
        this.out = out;
        this.doorbell = new Doorbell(nap, Duration.ofMillis(100));
    }

    @Override
    public void start() {
        encoder.setContext(getContext());
        encoder.start();
        running = true;
        writer = new Thread(this::writeLoop, "log-writer");
        writer.setDaemon(true);
        doorbell.consumer(writer);
        writer.start();
        super.start();
    }

    @Override
    protected void append(ILoggingEvent event) {
        event.prepareForDeferredProcessing(); // message, thread name and key-values fixed now, on the caller
        if (running && queue.offer(event)) {
            doorbell.ring();
        } else {
            dropped.incrementAndGet();
        }
    }

    /** Lines dropped so far (a full queue, or logged after stop). */
    long dropped() {
        return dropped.get();
    }

    /** How often a logging thread woke the writer (tests). */
    long rings() {
        return doorbell.rings();
    }

    private void writeLoop() {
        long droppedSaid = 0;
        while (running || !queue.isEmpty()) {
            boolean wrote = false;
            ILoggingEvent e;
            while ((e = queue.poll()) != null) {
                int mark = pending.size();
                try {
                    lines.write(e);
                } catch (RuntimeException bad) {
                    // one event that cannot be encoded (a key-value whose toString throws) is lost, not the writer
                    truncate(mark);
                    addError("cannot encode a log event of " + e.getLoggerName() + ": " + bad);
                }
                wrote = true;
                if (pending.size() >= WRITE_CHUNK) {
                    writeOut();
                }
            }
            long d = dropped.get();
            if (d != droppedSaid) {
                lines.write(droppedEvent(d - droppedSaid));
                droppedSaid = d;
                wrote = true;
            }
            writeOut();
            if (running) {
                doorbell.rest(wrote, queue::isEmpty, () -> running);
            }
        }
    }

    /** Drops what a failed encoding left after {@code size} bytes. */
    private void truncate(int size) {
        byte[] kept = java.util.Arrays.copyOf(pending.toByteArray(), size);
        pending.reset();
        pending.writeBytes(kept);
    }

    /** The writer's own line about lost lines, encoded as every other line is. */
    private ILoggingEvent droppedEvent(long n) {
        Logger self = ((LoggerContext) getContext()).getLogger(JsonLinesAppender.class);
        LoggingEvent e = new LoggingEvent(JsonLinesAppender.class.getName(), self, Level.WARN, "log lines dropped",
                null, null);
        e.setKeyValuePairs(List.of(new KeyValuePair("dropped", n)));
        return e;
    }

    private void writeOut() {
        if (pending.size() == 0) {
            return;
        }
        try {
            pending.writeTo(out);
            out.flush();
        } catch (IOException ex) {
            // stdout gone (a closed pipe): nothing else to tell it to; the lines are lost
            addError("cannot write log lines: " + ex.getMessage());
        }
        pending.reset();
    }

    /** Writes what is queued (within {@link #STOP_WAIT_MILLIS}) and stops the writer. */
    @Override
    public void stop() {
        if (!isStarted()) {
            return;
        }
        running = false;
        doorbell.wakeNow();
        try {
            writer.join(STOP_WAIT_MILLIS);
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
        }
        encoder.stop();
        super.stop();
    }
}
