package io.jmesh.ztunnel.inpod;

import com.google.protobuf.InvalidProtocolBufferException;
import io.jmesh.core.admin.Readiness;
import io.jmesh.proto.istio.workload.zds.Ack;
import io.jmesh.proto.istio.workload.zds.Version;
import io.jmesh.proto.istio.workload.zds.WorkloadRequest;
import io.jmesh.proto.istio.workload.zds.WorkloadResponse;
import io.jmesh.proto.istio.workload.zds.ZdsHello;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * ztunnel's end of ZDS: connects to the CNI node agent's socket (retrying with backoff, 10 ms up to 15 s, as long as
 * ztunnel runs; the backoff also paces reconnections after a lost connection and restarts from 10 ms once a
 * connection got in sync), says hello, then answers every request with an {@link Ack}. One platform thread of its
 * own, because the protocol is blocking by design (each request waits for its ack, and a pod's listeners must be
 * open before the ack); it never runs on an event loop.
 *
 * <p>Bad requests (undecodable, truncated, an AddWorkload without exactly one netns descriptor, a descriptor that is
 * not a network namespace) are refused with a precise error and counted; stray descriptors are closed. A request
 * out of protocol order is refused and the connection is made afresh, which replays the agent's snapshot.
 */
final class NodeAgentLink {

    private static final Logger log = LoggerFactory.getLogger(NodeAgentLink.class);
    private static final int MAX_MESSAGE = 64 * 1024;
    private static final Duration MIN_BACKOFF = Duration.ofMillis(10);
    private static final Duration MAX_BACKOFF = Duration.ofSeconds(15);

    private final String path;
    private final PodProxies pods;
    private final Readiness.Task ready;
    private final Duration retryInterval;
    private final Counter rejections;
    private final Thread thread;
    private volatile boolean running = true;
    private volatile SeqPacketSocket current;
    /** The pause before the next connection attempt (link thread only). */
    private Duration backoff = MIN_BACKOFF;

    NodeAgentLink(String path, PodProxies pods, Readiness.Task ready, Duration retryInterval,
            PrometheusRegistry metrics) {
        this.path = path;
        this.pods = pods;
        this.ready = ready;
        this.retryInterval = retryInterval;
        this.rejections = Counter.builder().name("ztunnel_inpod_rejections_total")
                .help("requests of the CNI node agent refused, by reason").labelNames("reason").register(metrics);
        for (String reason : new String[] {"malformed", "truncated", "netns_descriptor", "protocol", "start_failed"}) {
            rejections.labelValues(reason);
        }
        this.thread = new Thread(this::run, "ztunnel-node-agent");
        thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    /** Stops the link (its pods keep running until {@link PodProxies#closeAll}); waits up to 5 s for the thread. */
    void stop() {
        running = false;
        SeqPacketSocket s = current;
        if (s != null) {
            s.shutdown();
        }
        thread.interrupt();
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void run() {
        String lastFailure = null;
        while (running) {
            SeqPacketSocket s;
            try {
                s = SeqPacketSocket.connect(path);
            } catch (IOException e) {
                if (!e.getMessage().equals(lastFailure)) {
                    log.atWarn().log("cannot reach the CNI node agent: {}; retrying (up to every {}s); is istio-cni "
                            + "running on this node?", e.getMessage(), MAX_BACKOFF.toSeconds());
                    lastFailure = e.getMessage();
                }
                backOff();
                continue;
            }
            lastFailure = null;
            current = s;
            try {
                serve(s);
            } catch (IOException e) {
                if (running) {
                    log.atWarn().log("connection to the CNI node agent lost: {}", e.getMessage());
                }
            } catch (PodProxies.ProtocolError e) {
                // refused already; a fresh connection replays the agent's whole snapshot
                log.atError().log("CNI node agent broke the protocol: {}; reconnecting", e.getMessage());
            } finally {
                current = null;
                s.close();
                ready.reset(); // not ready while disconnected, as Istio's workload manager
            }
            // however the connection ended: an agent that accepts and drops every connection (restarting, or not
            // the agent at all) must not make this loop spin; a connection that got in sync reset the backoff
            backOff();
        }
    }

    /** Waits the current backoff (link thread), then doubles it up to {@link #MAX_BACKOFF}. */
    private void backOff() {
        if (!running) {
            return;
        }
        sleep(backoff);
        Duration next = backoff.multipliedBy(2);
        backoff = next.compareTo(MAX_BACKOFF) > 0 ? MAX_BACKOFF : next;
    }

    private void serve(SeqPacketSocket s) throws IOException, PodProxies.ProtocolError {
        pods.connected();
        s.receiveTimeout(retryInterval);
        s.send(ZdsHello.newBuilder().setVersion(Version.V1).build().toByteArray());
        log.atInfo().addKeyValue("socket", path).log("connected to the CNI node agent");
        long lastRetry = System.nanoTime();
        while (running) {
            SeqPacketSocket.Packet packet = s.receive(MAX_MESSAGE); // null after retryInterval without a request
            if (pods.hasPending() && System.nanoTime() - lastRetry >= retryInterval.toNanos()) {
                pods.retryPending(); // the pods that failed to start, however busy the agent is
                lastRetry = System.nanoTime();
                updateReadiness();
            }
            if (packet == null) {
                continue;
            }
            if (packet.endOfStream()) {
                log.atInfo().log("the CNI node agent closed the connection");
                return;
            }
            String error;
            try {
                error = handle(packet);
            } catch (PodProxies.ProtocolError e) {
                rejections.labelValues("protocol").inc();
                ack(s, e.getMessage());
                throw e;
            }
            ack(s, error);
            updateReadiness();
        }
    }

    private void updateReadiness() {
        if (pods.ready()) {
            backoff = MIN_BACKOFF; // in sync with the agent, as Istio resets its backoff when ready
            ready.complete();
        } else {
            ready.reset();
        }
    }

    private static void ack(SeqPacketSocket s, String error) throws IOException {
        s.send(WorkloadResponse.newBuilder().setAck(Ack.newBuilder().setError(error)).build().toByteArray());
    }

    /** One request: "" when done, else the error the agent is told. Every received descriptor is owned or closed. */
    String handle(SeqPacketSocket.Packet packet) throws PodProxies.ProtocolError {
        List<Integer> fds = packet.fds();
        if (packet.truncated()) {
            fds.forEach(PodNetns::closeQuietly);
            return refuse("truncated", "message or its control data truncated (over " + MAX_MESSAGE + " bytes or "
                    + "too many descriptors)");
        }
        WorkloadRequest request;
        try {
            request = WorkloadRequest.parseFrom(packet.data());
        } catch (InvalidProtocolBufferException e) {
            fds.forEach(PodNetns::closeQuietly);
            return refuse("malformed", "cannot decode WorkloadRequest (" + packet.data().length + " bytes): "
                    + e.getMessage());
        }
        WorkloadRequest.PayloadCase kind = request.getPayloadCase();
        if (kind != WorkloadRequest.PayloadCase.ADD && !fds.isEmpty()) {
            fds.forEach(PodNetns::closeQuietly);
            return refuse("netns_descriptor", kind + " must not carry file descriptors, got " + fds.size());
        }
        switch (kind) {
            case ADD -> {
                var add = request.getAdd();
                if (fds.size() != 1) {
                    fds.forEach(PodNetns::closeQuietly);
                    return refuse("netns_descriptor", "AddWorkload " + PodProxies.show(add.getUid())
                            + " must carry exactly one network-namespace descriptor, got " + fds.size());
                }
                PodNetns netns;
                try {
                    netns = PodNetns.adopt(fds.get(0));
                } catch (IllegalArgumentException e) {
                    return refuse("netns_descriptor", "AddWorkload " + PodProxies.show(add.getUid()) + ": " + e.getMessage());
                }
                String error = pods.add(add.getUid(), add.hasWorkloadInfo() ? add.getWorkloadInfo() : null, netns);
                if (!error.isEmpty()) {
                    rejections.labelValues("start_failed").inc();
                }
                return error;
            }
            case KEEP -> pods.keep(request.getKeep().getUid());
            case DEL -> pods.del(request.getDel().getUid());
            case SNAPSHOT_SENT -> pods.snapshotSent();
            default -> {
                return refuse("malformed", "WorkloadRequest without a known payload (unknown field or empty "
                        + "message; a newer agent?)");
            }
        }
        return "";
    }

    private String refuse(String reason, String message) {
        rejections.labelValues(reason).inc();
        log.atWarn().addKeyValue("reason", reason).log("refused a CNI node agent request: {}", message);
        return message;
    }

    private void sleep(Duration d) {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            // stop() interrupts: the loop checks running
        }
    }
}
