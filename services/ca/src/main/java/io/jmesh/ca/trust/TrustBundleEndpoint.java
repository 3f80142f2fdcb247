package io.jmesh.ca.trust;

import io.jmesh.ca.root.TrustBundleState;
import io.jmesh.core.grpc.Decoded;
import io.jmesh.core.grpc.SingleRequest;
import io.jmesh.proto.ca.v1.TrustBundle;
import io.jmesh.proto.ca.v1.TrustBundleServiceGrpcService;
import io.jmesh.proto.ca.v1.WatchTrustBundleRequest;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpConnection;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerRequest;
import io.vertx.grpc.server.GrpcServerResponse;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * {@code jmesh.ca.v1.TrustBundleService/Watch}: the current bundle at once (unless the caller holds that version),
 * then every change, until the caller cancels. Each message is a whole bundle, so a slow watcher skips
 * intermediate versions instead of queueing them: while its stream is full only the newest bundle is kept and
 * written on drain. Needs no credential: roots and CRLs are public, and a ztunnel needs them before anything else.
 *
 * <p>Thread-safe; each watch lives on its call's event loop.
 */
public final class TrustBundleEndpoint {

    private final TrustBundleState state;
    private final Set<Watch> watches = ConcurrentHashMap.newKeySet();
    // a connection has one close handler: one entry per connection closes all of its watches
    private final Map<HttpConnection, Set<Watch>> byConnection = new ConcurrentHashMap<>();

    public TrustBundleEndpoint(TrustBundleState state) {
        this.state = state;
    }

    public void bind(GrpcServer server) {
        server.callHandler(Decoded.method(TrustBundleServiceGrpcService.Watch), this::handle);
    }

    /** Open watches (for tests and metrics). */
    public int watchers() {
        return watches.size();
    }

    /** Ends every watch (drain): callers reconnect to another replica. */
    public void endAll() {
        watches.forEach(Watch::end);
    }

    private void handle(GrpcServerRequest<Decoded<WatchTrustBundleRequest>, TrustBundle> call) {
        Context context = Vertx.currentContext();
        SingleRequest.read(call, "WatchTrustBundleRequest", request -> {
            Watch w = new Watch(call.response(), context, request.getKnownVersion());
            watches.add(w);
            w.unsubscribe = state.subscribe(b -> context.runOnContext(v -> w.offer(b)));
            call.exceptionHandler(err -> w.close());
            call.errorHandler(err -> w.close());
            call.response().exceptionHandler(err -> w.close());
            HttpConnection conn = call.connection();
            w.connection = conn;
            byConnection.computeIfAbsent(conn, c -> {
                c.closeHandler(v -> {
                    Set<Watch> open = byConnection.remove(c);
                    if (open != null) {
                        open.forEach(Watch::close);
                    }
                });
                return ConcurrentHashMap.newKeySet();
            }).add(w);
            // headers at once: a watcher that is already current must still see its call accepted
            call.response().writeHead();
            w.offer(state.current());
        });
    }

    /** One caller's stream; touched only on its event loop. */
    private final class Watch {
        private final GrpcServerResponse<Decoded<WatchTrustBundleRequest>, TrustBundle> response;
        private final Context context;
        private long sentVersion;
        private TrustBundle pending;
        private boolean closed;
        private Runnable unsubscribe = () -> {};
        private HttpConnection connection;

        Watch(GrpcServerResponse<Decoded<WatchTrustBundleRequest>, TrustBundle> response, Context context, long known) {
            this.response = response;
            this.context = context;
            this.sentVersion = known;
            response.drainHandler(v -> flush());
        }

        void offer(TrustBundle b) {
            if (closed || b.getVersion() <= sentVersion) {
                return;
            }
            pending = b;
            flush();
        }

        private void flush() {
            if (closed || pending == null || response.writeQueueFull()) {
                return;
            }
            TrustBundle b = pending;
            pending = null;
            sentVersion = b.getVersion();
            response.write(b);
        }

        void end() {
            context.runOnContext(v -> {
                if (!closed) {
                    close();
                    response.end();
                }
            });
        }

        void close() {
            if (!closed) {
                closed = true;
                unsubscribe.run();
                watches.remove(this);
                Set<Watch> same = connection == null ? null : byConnection.get(connection);
                if (same != null) {
                    same.remove(this);
                }
            }
        }
    }
}
