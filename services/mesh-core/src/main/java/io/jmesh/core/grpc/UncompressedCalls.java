package io.jmesh.core.grpc;

import io.prometheus.metrics.core.metrics.Counter;
import io.vertx.core.Handler;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.grpc.common.GrpcStatus;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves only gRPC calls whose messages are not compressed. Vert.x's server inflates a {@code grpc-encoding: gzip}
 * message with no bound before the size limit or any handler sees it, so a 64 KiB message of zeros would become
 * ~64 MiB of heap, and a few concurrent ones would take a service down before the caller is even authenticated.
 * No client of ours (ztunnels, Istio's ztunnel and istio-agent, the CLI) compresses requests, so a compressed call
 * is refused as the gRPC spec says a server refuses an encoding it does not support: {@code UNIMPLEMENTED}, with
 * {@code grpc-accept-encoding: identity}.
 */
public final class UncompressedCalls {

    private static final Logger log = LoggerFactory.getLogger(UncompressedCalls.class);

    private UncompressedCalls() {}

    /**
     * {@code grpc} behind the check; refusals are counted in {@code refused} with labels method and reason
     * ({@code compressed}).
     */
    public static Handler<HttpServerRequest> only(Handler<HttpServerRequest> grpc, Counter refused) {
        return request -> {
            String encoding = request.getHeader("grpc-encoding");
            if (encoding == null || encoding.equalsIgnoreCase("identity")) {
                grpc.handle(request);
                return;
            }
            String message = "grpc-encoding: " + printable(encoding) + " (expected: identity; compressed requests"
                    + " are not accepted)";
            refused.labelValues(request.path(), "compressed").inc();
            log.atWarn().addKeyValue("method", request.path()).addKeyValue("peer", request.remoteAddress())
                    .log("grpc call refused: {}", message);
            request.response().setStatusCode(200)
                    .putHeader("content-type", "application/grpc")
                    .putHeader("grpc-accept-encoding", "identity")
                    .putHeader("grpc-status", Integer.toString(GrpcStatus.UNIMPLEMENTED.code))
                    .putHeader("grpc-message", message)
                    .end();
        };
    }

    /** The client's value as a status message may carry it: printable ASCII, not '%', at most 64 characters. */
    private static String printable(String value) {
        StringBuilder out = new StringBuilder(Math.min(value.length(), 64));
        for (int i = 0; i < value.length() && out.length() < 64; i++) {
            char c = value.charAt(i);
            out.append(c >= 0x20 && c < 0x7F && c != '%' ? c : '?');
        }
        return out.toString();
    }

    /** The counter {@link #only} expects, registered as {@code <service>_grpc_calls_refused_total}. */
    public static Counter counter(io.prometheus.metrics.model.registry.PrometheusRegistry registry, String service) {
        return Counter.builder().name(service + "_grpc_calls_refused_total")
                .help("gRPC calls refused before any handler, by method and reason (compressed)")
                .labelNames("method", "reason").register(registry);
    }
}
