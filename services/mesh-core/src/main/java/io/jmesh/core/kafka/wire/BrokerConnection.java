package io.jmesh.core.kafka.wire;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

/**
 * One non-blocking TCP connection to a broker, used by one thread, which {@link #poll polls} it: at most one request
 * is in flight, and its answer (or the connection's failure) is handed to the request's handler from within
 * {@link #poll}. Nothing here ever waits, so a broker that stops answering holds back only its own requests, never
 * another broker's. On opening it asks the broker which versions it speaks (ApiVersions v0) and settles on the newest
 * non-flexible version both sides know for each request the producer sends; only then is it {@link #ready}.
 */
final class BrokerConnection implements AutoCloseable {

    static final short PRODUCE = 0;
    static final short METADATA = 3;
    static final short API_VERSIONS = 18;
    static final short INIT_PRODUCER_ID = 22;
    private static final int FRAME_MAX = 64 * 1024 * 1024;

    /** The versions this producer can write and parse, per API key: {min, max} (later ones are flexible). */
    private static final short[][] SPOKEN = new short[INIT_PRODUCER_ID + 1][];

    static {
        SPOKEN[PRODUCE] = new short[] {3, 8};
        SPOKEN[METADATA] = new short[] {4, 8};
        SPOKEN[INIT_PRODUCER_ID] = new short[] {0, 1};
    }

    /** A broker that speaks none of the versions we do for a request we need. */
    static final class UnsupportedBroker extends IOException {
        UnsupportedBroker(String message) {
            super(message);
        }
    }

    /** What to do with a request's answer, or with the failure that left it unanswered. */
    interface Handler {
        void answered(ProtocolReader r) throws IOException;

        void failed(IOException why);
    }

    interface BodyWriter {
        void write(ProtocolWriter w) throws IOException;
    }

    final int nodeId;
    final String address;
    private final SocketChannel channel;
    private final String clientId;
    private final long readTimeoutNanos;
    private final long connectDeadline;
    private final int connectTimeoutMs;
    private final ProtocolWriter request = new ProtocolWriter(1024);
    private final short[] versions = new short[INIT_PRODUCER_ID + 1];
    private final ByteBuffer frameSize = ByteBuffer.allocate(4);
    private byte[] response = new byte[1024];
    private ByteBuffer out;
    private ByteBuffer body;
    private boolean connected;
    private boolean negotiated;
    private IOException failure;
    private int correlationId;
    // the request in flight: its id, API, deadline and handler (null: none)
    private int inFlightCorrelation;
    private short inFlightApi;
    private long inFlightDeadline;
    private Handler inFlight;
    private long lastAnswerNanos = System.nanoTime();

    private BrokerConnection(int nodeId, String address, SocketChannel channel, String clientId,
            int connectTimeoutMs, long readTimeoutNanos) {
        this.nodeId = nodeId;
        this.address = address;
        this.channel = channel;
        this.clientId = clientId;
        this.connectTimeoutMs = connectTimeoutMs;
        this.connectDeadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(connectTimeoutMs);
        this.readTimeoutNanos = readTimeoutNanos;
        Arrays.fill(versions, (short) -1);
    }

    /**
     * Starts connecting (the host name is resolved here, by the JDK, on the calling thread); the connection must be
     * established within {@code connectTimeoutMs} and each answer arrive within {@code readTimeoutMs}.
     *
     * @param nodeId the broker's id, or -1 for a bootstrap address
     */
    static BrokerConnection open(int nodeId, String host, int port, String clientId, int connectTimeoutMs,
            int readTimeoutMs) throws IOException {
        InetSocketAddress target = new InetSocketAddress(host, port);
        if (target.isUnresolved()) {
            throw new IOException(host + ":" + port + ": unknown host");
        }
        SocketChannel ch = SocketChannel.open();
        try {
            ch.configureBlocking(false);
            ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
            BrokerConnection c = new BrokerConnection(nodeId, host + ":" + port, ch, clientId, connectTimeoutMs,
                    TimeUnit.MILLISECONDS.toNanos(readTimeoutMs));
            c.connected = ch.connect(target);
            c.start(API_VERSIONS, (short) 0, w -> { }, c.new Negotiation());
            return c;
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw new IOException(host + ":" + port + ": " + e.getMessage(), e);
        }
    }

    /** Versions agreed on and no request in flight: {@link #send} may be called. */
    boolean ready() {
        return negotiated && inFlight == null && failure == null;
    }

    /** Failed for good: its request's handler has heard why; the connection is closed. */
    boolean failed() {
        return failure != null;
    }

    /** Ready, and nothing asked of it for {@code idleNanos}: a broker closes such connections after a while. */
    boolean idleFor(long idleNanos, long now) {
        return ready() && now - lastAnswerNanos > idleNanos;
    }

    IOException failure() {
        return failure;
    }

    short version(short apiKey) {
        return versions[apiKey];
    }

    /**
     * Queues one request (header v1 and what {@code body} writes); the next {@link #poll} writes it, and a later
     * one hands its answer or failure to {@code handler}.
     */
    void send(short apiKey, short version, BodyWriter body, Handler handler) throws IOException {
        if (!ready()) {
            throw new IllegalStateException(address + " is not ready for a request");
        }
        start(apiKey, version, body, handler);
    }

    private void start(short apiKey, short version, BodyWriter body, Handler handler) throws IOException {
        int correlation = ++correlationId;
        request.reset();
        request.int32(0).int16(apiKey).int16(version).int32(correlation).nullableString(clientId);
        body.write(request);
        request.putInt32(0, request.size() - 4);
        out = ByteBuffer.wrap(request.array(), 0, request.size());
        inFlightCorrelation = correlation;
        inFlightApi = apiKey;
        inFlightDeadline = System.nanoTime() + readTimeoutNanos;
        inFlight = handler;
    }

    /**
     * Moves whatever bytes the socket takes or holds without waiting; an answer read whole goes to its request's
     * handler, and a failure (refused, closed, timed out, malformed) closes the connection and goes to the handler
     * of the request in flight.
     *
     * @return whether the connection still waits for something (to connect, or an answer): poll again soon
     */
    boolean poll(long now) {
        if (failure != null) {
            return false;
        }
        Handler h = inFlight;
        try {
            if (!connected) {
                if (!channel.finishConnect()) {
                    if (now - connectDeadline > 0) {
                        throw new IOException("not connected within " + connectTimeoutMs + " ms");
                    }
                    return true;
                }
                connected = true;
                inFlightDeadline = now + readTimeoutNanos; // the answer's time starts once connected
            }
            if (out != null) {
                channel.write(out);
                if (!out.hasRemaining()) {
                    out = null;
                }
            }
            if (h == null) {
                return false;
            }
            ProtocolReader answer = readAnswer();
            if (answer == null) {
                if (now - inFlightDeadline > 0) {
                    throw new IOException(address + " did not answer " + name(inFlightApi) + " within "
                            + TimeUnit.NANOSECONDS.toMillis(readTimeoutNanos) + " ms");
                }
                return true;
            }
            inFlight = null;
            lastAnswerNanos = now;
            h.answered(answer);
            return false;
        } catch (IOException | RuntimeException e) {
            String message = e.getMessage() == null ? e.toString() : e.getMessage();
            IOException why = e instanceof IOException io && message.contains(address) ? io
                    : new IOException(address + ": " + message, e);
            failure = why;
            close();
            inFlight = null;
            if (h != null) {
                h.failed(why);
            }
            return false;
        }
    }

    /** Gives the connection up: closed, and the request in flight, if any, hears that it failed. */
    void fail(String reason) {
        if (failure != null) {
            return;
        }
        failure = new IOException(address + ": " + reason);
        close();
        Handler h = inFlight;
        inFlight = null;
        if (h != null) {
            h.failed(failure);
        }
    }

    /** The answer to the request in flight once it has arrived whole, else null. */
    private ProtocolReader readAnswer() throws IOException {
        if (body == null) {
            if (channel.read(frameSize) < 0) {
                throw new IOException(address + " closed the connection");
            }
            if (frameSize.hasRemaining()) {
                return null;
            }
            int size = frameSize.getInt(0);
            if (size < 4 || size > FRAME_MAX) {
                throw new ProtocolReader.MalformedResponse(address + " answered " + name(inFlightApi) + " with a "
                        + size + "-byte frame (expected 4 bytes to 64 MiB)");
            }
            if (response.length < size) {
                response = new byte[Math.max(size, response.length * 2)];
            }
            body = ByteBuffer.wrap(response, 0, size);
        }
        if (channel.read(body) < 0) {
            throw new IOException(address + " closed the connection");
        }
        if (body.hasRemaining()) {
            return null;
        }
        int size = body.limit();
        body = null;
        frameSize.clear();
        ProtocolReader r = new ProtocolReader(response, 0, size, address + " answering " + name(inFlightApi));
        int answered = r.int32();
        if (answered != inFlightCorrelation) {
            throw new ProtocolReader.MalformedResponse(address + " answered correlation id " + answered
                    + " to request " + inFlightCorrelation);
        }
        return r;
    }

    /** The first exchange: which versions both sides speak. */
    private final class Negotiation implements Handler {
        @Override
        public void answered(ProtocolReader r) throws IOException {
            short error = r.int16();
            int n = r.arrayLength();
            short[][] broker = new short[versions.length][];
            for (int i = 0; i < n; i++) {
                short key = r.int16();
                short min = r.int16();
                short max = r.int16();
                if (key >= 0 && key < broker.length) {
                    broker[key] = new short[] {min, max};
                }
            }
            if (error != 0 && n == 0) {
                throw new IOException(address + " refused ApiVersions: " + KafkaErrors.describe(error));
            }
            for (short key : new short[] {PRODUCE, METADATA, INIT_PRODUCER_ID}) {
                short[] ours = SPOKEN[key];
                short[] theirs = broker[key];
                if (theirs == null || theirs[0] > ours[1] || theirs[1] < ours[0]) {
                    throw new UnsupportedBroker(address + " speaks " + name(key) + " versions "
                            + (theirs == null ? "none" : theirs[0] + "-" + theirs[1]) + ", this producer " + ours[0]
                            + "-" + ours[1]);
                }
                versions[key] = (short) Math.min(ours[1], theirs[1]);
            }
            negotiated = true;
        }

        @Override
        public void failed(IOException why) {
            // the connection's failure is read through failed() by whoever waits for it to become ready
        }
    }

    static String name(short apiKey) {
        switch (apiKey) {
            case PRODUCE:
                return "Produce";
            case METADATA:
                return "Metadata";
            case API_VERSIONS:
                return "ApiVersions";
            case INIT_PRODUCER_ID:
                return "InitProducerId";
            default:
                return "api " + apiKey;
        }
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // closing: nothing left to tell
        }
    }
}
