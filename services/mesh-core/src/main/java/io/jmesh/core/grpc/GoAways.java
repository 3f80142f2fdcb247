package io.jmesh.core.grpc;

import io.netty.util.ReferenceCountUtil;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.buffer.impl.BufferImpl;
import io.vertx.core.http.HttpConnection;

/**
 * Telling a GOAWAY the peer sent from any other end of a connection, without leaking memory on each.
 *
 * <p>For a connection with a {@code goAwayHandler}, Vert.x 5.0 hands the handler a copy of the frame's debug data
 * in a buffer of Netty's pooled allocator and never frees it: every GOAWAY received (a control plane ages each
 * connection out every 30 minutes) would leak one. {@link #onReceived} frees that copy once the callback ran.
 */
public final class GoAways {

    private GoAways() {
    }

    /** Runs {@code then} when {@code connection} receives a GOAWAY (on its context), then frees the debug data. */
    public static void onReceived(HttpConnection connection, Runnable then) {
        connection.goAwayHandler(g -> {
            try {
                then.run();
            } finally {
                release(g.getDebugData());
            }
        });
    }

    /**
     * Frees the copy Vert.x made. A read-only buffer is not one: Vert.x then passes the frame's own data, which
     * Netty frees.
     */
    static void release(Buffer debugData) {
        if (debugData instanceof BufferImpl b && !b.byteBuf().isReadOnly() && b.byteBuf().refCnt() > 0) {
            ReferenceCountUtil.safeRelease(b.byteBuf());
        }
    }
}
