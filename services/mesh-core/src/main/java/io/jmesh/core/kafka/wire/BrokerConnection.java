package io.jmesh.core.kafka.wire;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.Arrays;

/**
 * One blocking TCP connection to a broker, used by one thread: a request is written and its response read before
 * the next is sent. On opening it asks the broker which versions it speaks (ApiVersions v0) and settles on the
 * newest non-flexible version both sides know for each request the producer sends.
 */
final class BrokerConnection implements AutoCloseable {

    static final short PRODUCE = 0;
    static final short METADATA = 3;
    static final short API_VERSIONS = 18;
    static final short INIT_PRODUCER_ID = 22;

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

    final int nodeId;
    final String address;
    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;
    private final String clientId;
    private final ProtocolWriter request = new ProtocolWriter(1024);
    private final short[] versions = new short[INIT_PRODUCER_ID + 1];
    private byte[] response = new byte[1024];
    private final byte[] frameSize = new byte[4];
    private int correlationId;

    private BrokerConnection(int nodeId, String address, Socket socket, String clientId) throws IOException {
        this.nodeId = nodeId;
        this.address = address;
        this.socket = socket;
        this.in = socket.getInputStream();
        this.out = socket.getOutputStream();
        this.clientId = clientId;
        Arrays.fill(versions, (short) -1);
    }

    /**
     * Connects, within {@code connectTimeoutMs}, and negotiates versions; every later read waits at most
     * {@code readTimeoutMs}.
     *
     * @param nodeId the broker's id, or -1 for a bootstrap address
     */
    static BrokerConnection open(int nodeId, String host, int port, String clientId, int connectTimeoutMs,
            int readTimeoutMs) throws IOException {
        Socket s = new Socket();
        try {
            s.setTcpNoDelay(true);
            s.connect(new InetSocketAddress(host, port), connectTimeoutMs);
            s.setSoTimeout(readTimeoutMs);
            BrokerConnection c = new BrokerConnection(nodeId, host + ":" + port, s, clientId);
            c.negotiate();
            return c;
        } catch (IOException | RuntimeException e) {
            s.close();
            throw e;
        }
    }

    private void negotiate() throws IOException {
        ProtocolReader r = call(API_VERSIONS, (short) 0, w -> { });
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
    }

    short version(short apiKey) {
        return versions[apiKey];
    }

    /** Writes one request (header v1 and the body {@code body} writes) and reads its response body. */
    ProtocolReader call(short apiKey, short version, BodyWriter body) throws IOException {
        int correlation = ++correlationId;
        request.reset();
        request.int32(0).int16(apiKey).int16(version).int32(correlation).nullableString(clientId);
        body.write(request);
        request.putInt32(0, request.size() - 4);
        out.write(request.array(), 0, request.size());
        out.flush();
        int size = readInt();
        if (size < 4 || size > 64 * 1024 * 1024) {
            throw new ProtocolReader.MalformedResponse(address + " answered " + name(apiKey) + " with a "
                    + size + "-byte frame (expected 4 bytes to 64 MiB)");
        }
        if (response.length < size) {
            response = new byte[Math.max(size, response.length * 2)];
        }
        readFully(response, size);
        ProtocolReader r = new ProtocolReader(response, 0, size, address + " answering " + name(apiKey));
        int answered = r.int32();
        if (answered != correlation) {
            throw new ProtocolReader.MalformedResponse(address + " answered correlation id " + answered
                    + " to request " + correlation);
        }
        return r;
    }

    interface BodyWriter {
        void write(ProtocolWriter w) throws IOException;
    }

    private int readInt() throws IOException {
        byte[] b = frameSize;
        readFully(b, 4);
        return ((b[0] & 0xff) << 24) | ((b[1] & 0xff) << 16) | ((b[2] & 0xff) << 8) | (b[3] & 0xff);
    }

    private void readFully(byte[] into, int length) throws IOException {
        int read = 0;
        while (read < length) {
            int n = in.read(into, read, length - read);
            if (n < 0) {
                throw new IOException(address + " closed the connection");
            }
            read += n;
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
            socket.close();
        } catch (IOException ignored) {
            // closing: nothing left to tell
        }
    }
}
