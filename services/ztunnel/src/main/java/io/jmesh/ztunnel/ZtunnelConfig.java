package io.jmesh.ztunnel;

import io.jmesh.core.config.AdminConfig;
import io.jmesh.core.config.Ports;
import io.jmesh.core.grpc.Http2Liveness;
import io.jmesh.core.kafka.KafkaSettings;
import io.jmesh.core.lifecycle.ServiceConfig;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;

/**
 * Configuration of ztunnel; defaults and the meaning of every key in {@code ztunnel-defaults.yaml}.
 *
 * @param admin where {@code /metrics} (15020) is served
 * @param workerThreads I/O threads (Vert.x event loops) that carry every socket and tunnel; Istio's ztunnel runs
 *     two ({@code ZTUNNEL_WORKER_THREADS}). A tunnel stays on one thread, so more threads only help with many
 *     concurrent tunnels, and each costs wake-ups and per-thread buffer caches
 * @param blockingThreads threads for the short work handed off the I/O threads: certificate requests' keys and
 *     checks, telemetry's progress reports, {@code /metrics} scrapes (each holds one while it streams, up to its
 *     stall timeout), config dumps, trust bundle checks. Vert.x's default of 20 is far more than that needs, and
 *     its pool keeps every thread it ever started (each ~110 KiB resident): it must exceed
 *     {@code admin.maxConcurrentScrapes}, so that stalled scrapers leave room for certificate renewals
 */
public record ZtunnelConfig(String logLevel, Duration drainDeadline, int workerThreads, int blockingThreads,
        AdminConfig admin, Node node,
        Listeners listeners, Hbone hbone, Tcp tcp, Pool pool, Discovery discovery, Identity identity,
        KafkaSettings kafka, Capture capture, Dns dns, InPod inpod, Socks5 socks5, Telemetry telemetry)
        implements ServiceConfig {

    public ZtunnelConfig {
        if (workerThreads < 1 || workerThreads > 256) {
            throw new IllegalArgumentException("workerThreads: " + workerThreads + " (expected: 1..256)");
        }
        Objects.requireNonNull(admin, "admin");
        if (blockingThreads <= admin.maxConcurrentScrapes() || blockingThreads > 64) {
            throw new IllegalArgumentException("blockingThreads: " + blockingThreads + " (expected: above "
                    + "admin.maxConcurrentScrapes, " + admin.maxConcurrentScrapes() + ", so that stalled scrapes "
                    + "leave threads for certificate renewals; at most 64)");
        }
        Objects.requireNonNull(node, "node");
        Objects.requireNonNull(listeners, "listeners");
        Objects.requireNonNull(hbone, "hbone");
        Objects.requireNonNull(tcp, "tcp");
        Objects.requireNonNull(pool, "pool");
        Objects.requireNonNull(discovery, "discovery");
        Objects.requireNonNull(identity, "identity");
        Objects.requireNonNull(kafka, "kafka");
        Objects.requireNonNull(capture, "capture");
        Objects.requireNonNull(dns, "dns");
        Objects.requireNonNull(inpod, "inpod");
        Objects.requireNonNull(socks5, "socks5");
        Objects.requireNonNull(telemetry, "telemetry");
        if (inpod.enabled()) {
            if (listeners.transparent() && capture.enabled()) {
                throw new IllegalArgumentException("inpod.enabled: the CNI node agent redirects inside each pod, so "
                        + "node-level capture (listeners.transparent with capture.enabled) must be off");
            }
            // the agent's rules inside the pods name these ports
            inPodPort("listeners.outboundCapture", listeners.outboundCapture());
            inPodPort("listeners.hbone", listeners.hbone());
            inPodPort("listeners.inboundPlaintext", listeners.inboundPlaintext());
            if (listeners.dns() == 0) {
                inPodPort("listeners.dns", 0); // -1 (off) is fine: then the pods get no DNS proxy
            }
        }
        if (discovery.onDemand() && listeners.dns() >= 0) {
            // Istio refuses the pair too: the DNS proxy answers from the whole registry, which on-demand never holds
            throw new IllegalArgumentException("discovery.onDemand: true and listeners.dns: " + listeners.dns()
                    + " are incompatible (Istio's XDS_ON_DEMAND cannot be combined with its DNS proxy: the proxy "
                    + "answers from every service, on-demand discovery holds only those asked for); set "
                    + "listeners.dns: -1 or discovery.onDemand: false");
        }
        if (listeners.transparent() && capture.enabled()) {
            // the TPROXY rules name these ports
            fixedPort("listeners.outboundCapture", listeners.outboundCapture());
            fixedPort("listeners.hbone", listeners.hbone());
            fixedPort("listeners.inboundPlaintext", listeners.inboundPlaintext());
            if (listeners.dns() == 0) {
                fixedPort("listeners.dns", 0); // -1 (off) is fine: then pods' DNS is not captured
            }
        }
    }

    @Override
    public int ioThreads() {
        return workerThreads;
    }

    @Override
    public int blockingThreads() {
        return blockingThreads;
    }

    private static void inPodPort(String field, int port) {
        if (port <= 0) {
            throw new IllegalArgumentException(field + ": " + port + " (expected: a fixed port with inpod.enabled)");
        }
    }

    /** The same configuration with other listeners (in-pod mode derives the node's and each pod's from it). */
    public ZtunnelConfig withListeners(Listeners other) {
        return new ZtunnelConfig(logLevel, drainDeadline, workerThreads, blockingThreads, admin, node, other, hbone, tcp,
                pool, discovery, identity, kafka, capture, dns, inpod, socks5, telemetry);
    }

    /** The same configuration with another in-pod section. */
    public ZtunnelConfig withInPod(InPod other) {
        return new ZtunnelConfig(logLevel, drainDeadline, workerThreads, blockingThreads, admin, node, listeners, hbone,
                tcp, pool, discovery, identity, kafka, capture, dns, other, socks5, telemetry);
    }

    private static void fixedPort(String field, int port) {
        if (port <= 0) {
            throw new IllegalArgumentException(field + ": " + port
                    + " (expected: a fixed port with listeners.transparent and capture.enabled)");
        }
    }

    /**
     * This node.
     *
     * @param name the node name workloads carry in {@code Workload.node}; selects the local workloads
     * @param address the node's own address: outbound listeners, readiness and node-level inbound bind here
     * @param trustDomain the mesh trust domain; inbound peers from another trust domain are refused
     * @param clusterId the {@code clusterid} metadata sent to ca and policy, and the metrics' cluster label
     * @param network the network this node is on (Istio's {@code NETWORK}; empty: the default network). Endpoints
     *     on another network are reached through their network's east-west gateway (double HBONE)
     * @param ztunnelAddresses node name to the HBONE address of that node's ztunnel ({@code host:port}); used in
     *     local mode where workloads on other nodes are not reachable on their own {@code :15008}
     * @param dualStackAddress on a dual-stack node, its address of the other IP family than {@code address}, or
     *     empty: the DNS proxy listens there too, and in transparent mode the pods' DNS of that family goes to it.
     *     Also a comma-separated list, as Kubernetes gives {@code status.hostIPs}: the first address of the other
     *     family is kept, the others are ignored (a single-stack node's list has none)
     */
    public record Node(String name, String address, String trustDomain, String clusterId, String network,
            Map<String, String> ztunnelAddresses, String dualStackAddress) {
        public Node {
            requireText(name, "name");
            requireText(address, "address");
            requireText(trustDomain, "trustDomain");
            requireText(clusterId, "clusterId");
            network = network == null ? "" : network;
            ztunnelAddresses = ztunnelAddresses == null ? Map.of() : Map.copyOf(ztunnelAddresses);
            dualStackAddress = otherFamily(address, dualStackAddress == null ? "" : dualStackAddress);
        }
    }

    /** The first address of {@code list} (comma-separated IP literals) whose family is not {@code address}'s, or "". */
    private static String otherFamily(String address, String list) {
        java.net.InetAddress own = io.jmesh.core.net.IpLiteral.parse(address);
        String found = "";
        for (String entry : list.split(",")) {
            String e = entry.trim();
            if (e.isEmpty()) {
                continue;
            }
            java.net.InetAddress a = io.jmesh.core.net.IpLiteral.parse(e);
            if (a == null || a.isAnyLocalAddress()) {
                throw new IllegalArgumentException("node.dualStackAddress: '" + e + "' (expected: IP addresses, the"
                        + " node's own; the one of the other family than node.address is used)");
            }
            boolean sameFamily = own != null && (own instanceof java.net.Inet4Address) == (a instanceof java.net.Inet4Address);
            if (!sameFamily && found.isEmpty()) {
                found = e;
            }
        }
        return found;
    }

    /**
     * The ports ztunnel itself listens on (those configured above 0): a connection addressed to one of them on
     * this node is a self-call, refused both ways (Istio's "illegal ports", widened to every listener).
     */
    public java.util.Set<Integer> ownPorts() {
        java.util.Set<Integer> ports = new java.util.HashSet<>();
        for (int p : new int[] {listeners.hbone(), listeners.inboundPlaintext(), listeners.outboundCapture(),
            listeners.socks5(), listeners.localAdmin(), listeners.readiness(), listeners.dns(), admin.port()}) {
            if (p > 0) {
                ports.add(p);
            }
        }
        return java.util.Set.copyOf(ports);
    }

    /**
     * Listener ports (Istio's); a port of 0 picks a free one (tests), -1 disables the listener.
     *
     * @param inboundPerWorkload bind the inbound listeners (15008, 15006) on each local workload's address, as
     *     Istio's in-pod mode does in each pod (local mode); else once on the node address
     * @param transparent use {@code IP_TRANSPARENT} on the capture listener (15001) and connect to local
     *     applications from the client's address (needs CAP_NET_ADMIN and TPROXY rules)
     * @param dns the DNS proxy (UDP and TCP) on the node address
     */
    public record Listeners(int hbone, int inboundPlaintext, int outboundCapture, int socks5, int localAdmin,
            int readiness, int dns, boolean inboundPerWorkload, boolean transparent) {
        public Listeners {
            checkPort("hbone", hbone);
            checkPort("inboundPlaintext", inboundPlaintext);
            checkPort("outboundCapture", outboundCapture);
            checkPort("socks5", socks5);
            checkPort("localAdmin", localAdmin);
            checkPort("readiness", readiness);
            checkPort("dns", dns);
        }
    }

    /**
     * Connection telemetry sent to Kafka ({@code kafka}).
     *
     * @param progressInterval how often each open connection that moved bytes since its last report is reported
     *     (a PROGRESS event with the bytes since then), so that the telemetry service's byte counters move while a
     *     long-lived connection is open rather than in one jump at its close. Istio's Envoy stats filter reports
     *     TCP bytes every 5 s ({@code tcp_reporting_duration}) into its own process's counters; here each report
     *     is a Kafka event per busy connection, so the default is 60 s, well within a usual scrape window of the
     *     telemetry service's series. Required, above zero: there is no "off" (a connection's bytes would then
     *     again show only at its close)
     * @param seriesIdleWindow how long an {@code istio_tcp_*} series stays once no connection on it is open and the
     *     last one closed (default 1 h, the telemetry service's {@code seriesTtl} default): time for a scrape to see
     *     its last increments; then it goes, so the series of removed workloads and of peers no push names (another
     *     network's) do not pile up. Above zero
     * @param rejectionLog how many "connection failed" lines of refused connections are logged
     * @param removeLabels labels left out of the {@code istio_tcp_*} metrics on {@code /metrics} (Istio's
     *     Telemetry API does this with a tag override's {@code REMOVE}): series that differed only in them add up,
     *     for fewer series where, say, per-pod principals or canonical revisions are too many. Any of Istio's labels
     *     but {@code reporter}; empty by default. Events and the access log keep every field
     */
    public record Telemetry(Duration progressInterval, Duration seriesIdleWindow, RejectionLog rejectionLog,
            java.util.List<String> removeLabels) {
        public Telemetry {
            if (progressInterval == null) {
                throw new IllegalArgumentException("telemetry.progressInterval: empty (expected: a duration > 0, e.g. "
                        + "60s)");
            }
            progressInterval = positive("telemetry.progressInterval", progressInterval, progressInterval);
            seriesIdleWindow = positive("telemetry.seriesIdleWindow", seriesIdleWindow, Duration.ofHours(1));
            rejectionLog = rejectionLog == null ? RejectionLog.DEFAULT : rejectionLog;
            removeLabels = removeLabels == null ? java.util.List.of() : java.util.List.copyOf(removeLabels);
            io.jmesh.ztunnel.telemetry.IstioTcpLabels.checkRemovable(removeLabels); // names the first bad one
        }

        /** The settings with the default idle window and rejection log (tests that build the record by hand). */
        public Telemetry(Duration progressInterval) {
            this(progressInterval, null, null, null);
        }
    }

    /**
     * The access log's lines of refused connections ({@code telemetry.rejectionLog}): a flood of bad input (garbage
     * on the SOCKS5 port, malformed HBONE requests, bad PROXY headers) would otherwise be a flood of lines, one per
     * connection. {@code ztunnel_connection_rejections_total} counts every refusal regardless.
     *
     * @param linesPerInterval lines logged per direction and reason in each interval (default 20); the rest are
     *     summed in one "suppressed K similar lines" line once the interval is over
     * @param interval the interval (default 10 s)
     */
    public record RejectionLog(int linesPerInterval, Duration interval) {
        public RejectionLog {
            if (linesPerInterval < 1) {
                throw new IllegalArgumentException("telemetry.rejectionLog.linesPerInterval: " + linesPerInterval
                        + " (expected: >= 1)");
            }
            interval = positive("telemetry.rejectionLog.interval", interval,
                    io.jmesh.ztunnel.telemetry.ConnectionTelemetry.REJECTION_LOG_INTERVAL);
        }

        static final RejectionLog DEFAULT = new RejectionLog(
                io.jmesh.ztunnel.telemetry.ConnectionTelemetry.REJECTION_LINES,
                io.jmesh.ztunnel.telemetry.ConnectionTelemetry.REJECTION_LOG_INTERVAL);
    }

    /**
     * The SOCKS5 listener ({@code listeners.socks5}).
     *
     * @param handshakeTimeout a client must have sent its greeting and request within this long of connecting;
     *     a slower one is closed, logged and counted ({@code socks_timeout}) instead of holding its socket
     */
    public record Socks5(Duration handshakeTimeout) {
        public Socks5 {
            handshakeTimeout = positive("socks5.handshakeTimeout", handshakeTimeout, Duration.ofSeconds(10));
        }
    }

    /** HTTP/2 parameters of HBONE (Istio's values by default). */
    public record Hbone(int streamWindowBytes, int connectionWindowBytes, int maxFrameBytes,
            int serverMaxConcurrentStreams, int maxHeaderListBytes, Duration pingInterval, Duration pingTimeout,
            Duration connectTimeout, int maxRstFramesPerSecond, int sharedStreamWindowBytes) {
        public Hbone {
            positive("streamWindowBytes", streamWindowBytes);
            positive("connectionWindowBytes", connectionWindowBytes);
            if (maxFrameBytes < 16_384 || maxFrameBytes > 16_777_215) {
                throw new IllegalArgumentException("maxFrameBytes: " + maxFrameBytes + " (expected: 16384..16777215)");
            }
            positive("serverMaxConcurrentStreams", serverMaxConcurrentStreams);
            positive("maxHeaderListBytes", maxHeaderListBytes);
            positive("maxRstFramesPerSecond", maxRstFramesPerSecond);
            if (sharedStreamWindowBytes < 0) {
                throw new IllegalArgumentException("sharedStreamWindowBytes: " + sharedStreamWindowBytes
                        + " (expected: 0, off, or a size in bytes)");
            }
            Objects.requireNonNull(pingInterval, "pingInterval");
            Objects.requireNonNull(pingTimeout, "pingTimeout");
            Objects.requireNonNull(connectTimeout, "connectTimeout");
        }
    }

    /**
     * TCP options of every socket ztunnel accepts or opens, as Istio's ztunnel sets them. Keepalive is per hop (an
     * application's own keepalives stop at its ztunnel), so each hop keeps its own flow alive through NAT and load
     * balancers that drop idle flows, and notices a peer that vanished without a FIN.
     *
     * @param keepalive SO_KEEPALIVE ({@code KEEPALIVE_ENABLED})
     * @param keepaliveTime idle time before the first probe, TCP_KEEPIDLE ({@code KEEPALIVE_TIME}, 180 s)
     * @param keepaliveInterval between probes, TCP_KEEPINTVL ({@code KEEPALIVE_INTERVAL}, 180 s)
     * @param keepaliveRetries unanswered probes before the connection is dropped, TCP_KEEPCNT ({@code
     *     KEEPALIVE_RETRIES}, 9)
     * @param userTimeout TCP_USER_TIMEOUT = time + retries x interval, so data unacknowledged that long also drops
     *     the connection ({@code USER_TIMEOUT_ENABLED}; off by default, as in Istio)
     */
    public record Tcp(boolean keepalive, Duration keepaliveTime, Duration keepaliveInterval, int keepaliveRetries,
            boolean userTimeout) {
        public Tcp {
            seconds("tcp.keepaliveTime", keepaliveTime, 32_767);
            seconds("tcp.keepaliveInterval", keepaliveInterval, 32_767);
            if (keepaliveRetries < 1 || keepaliveRetries > 127) {
                throw new IllegalArgumentException("tcp.keepaliveRetries: " + keepaliveRetries + " (expected: 1..127)");
            }
            if (userTimeout && !keepalive) {
                throw new IllegalArgumentException("tcp.userTimeout: true needs tcp.keepalive: true (the timeout is"
                        + " derived from the keepalive settings)");
            }
        }

        /** TCP_USER_TIMEOUT in milliseconds: time + retries x interval. */
        public int userTimeoutMillis() {
            return (int) Math.min(Integer.MAX_VALUE,
                    keepaliveTime.plus(keepaliveInterval.multipliedBy(keepaliveRetries)).toMillis());
        }

        // Linux takes whole seconds, 1..32767 (MAX_TCP_KEEPIDLE / MAX_TCP_KEEPINTVL)
        private static void seconds(String field, Duration d, int max) {
            if (d == null || d.toMillis() % 1000 != 0 || d.toSeconds() < 1 || d.toSeconds() > max) {
                throw new IllegalArgumentException(field + ": " + (d == null ? "missing"
                        : d.isNegative() ? d.toString() : io.jmesh.core.config.Durations.format(d))
                        + " (expected: whole seconds, 1s.." + max + "s)");
            }
        }
    }

    /**
     * Outbound HBONE connection pool.
     *
     * @param perEventLoop keep pooled connections per I/O thread as well as per key: a tunnel's socket and its HBONE
     *     connection then share a thread (no cross-thread hop per buffer), at the cost of up to one connection per
     *     key and thread
     */
    public record Pool(int maxStreamsPerConnection, Duration idleTimeout, boolean perEventLoop) {
        public Pool {
            positive("maxStreamsPerConnection", maxStreamsPerConnection);
            Objects.requireNonNull(idleTimeout, "idleTimeout");
        }
    }

    /**
     * Where workloads, services and policies come from: a static file (local mode), the policy service's delta
     * ADS, or both (the file first).
     *
     * @param staticFile YAML file of workloads, services and authorizations; empty for none
     * @param address policy's delta ADS endpoint {@code host:port}; empty for none
     * @param tokenFile the node's bearer token, sent as {@code authorization: Bearer}
     * @param rootCertFile PEM roots verifying policy's TLS certificate; empty for plaintext (tests only)
     * @param onDemand Istio's {@code XDS_ON_DEMAND}: subscribe to no address up front and ask policy for each one
     *     (by its alias {@code network/IP} or {@code namespace/hostname}) when a lookup misses; authorizations stay
     *     wildcard. Needs {@code address}; refused with the DNS proxy ({@code listeners.dns}), as Istio does
     * @param onDemandTimeout longest a connection waits for policy's answer to an on-demand lookup; then it
     *     continues as if the address were unknown
     * @param rootCertReloadInterval how often {@code rootCertFile} is read again; changed, valid roots verify the
     *     next connection to policy (Kubernetes updates a mounted ConfigMap in place)
     */
    public record Discovery(String staticFile, String address, String tokenFile, String rootCertFile,
            Duration initialBackoff, Duration maxBackoff, boolean onDemand, Duration onDemandTimeout,
            Duration rootCertReloadInterval, Duration keepaliveInterval, Duration keepaliveTimeout) {
        public Discovery {
            keepaliveInterval = positive("discovery.keepaliveInterval", keepaliveInterval,
                    Http2Liveness.ISTIO_INTERVAL);
            keepaliveTimeout = positive("discovery.keepaliveTimeout", keepaliveTimeout, Http2Liveness.ISTIO_TIMEOUT);
            rootCertReloadInterval = positive("discovery.rootCertReloadInterval", rootCertReloadInterval,
                    Duration.ofSeconds(10));
            staticFile = staticFile == null ? "" : staticFile;
            address = address == null ? "" : address;
            tokenFile = tokenFile == null ? "" : tokenFile;
            rootCertFile = rootCertFile == null ? "" : rootCertFile;
            Objects.requireNonNull(initialBackoff, "initialBackoff");
            Objects.requireNonNull(maxBackoff, "maxBackoff");
            onDemandTimeout = positive("discovery.onDemandTimeout", onDemandTimeout, Duration.ofSeconds(5));
            if (onDemand && address.isEmpty()) {
                throw new IllegalArgumentException("discovery.onDemand: true needs discovery.address (policy's delta "
                        + "ADS, which answers the on-demand lookups); it is empty");
            }
        }

        /** The same settings without on-demand lookups (tests and tools that build the record by hand). */
        public Discovery(String staticFile, String address, String tokenFile, String rootCertFile,
                Duration initialBackoff, Duration maxBackoff) {
            this(staticFile, address, tokenFile, rootCertFile, initialBackoff, maxBackoff, false,
                    Duration.ofSeconds(5), Duration.ofSeconds(10), null, null);
        }

        /** The HTTP/2 PING schedule of the connection to policy. */
        public Http2Liveness.Settings keepalive() {
            return new Http2Liveness.Settings(keepaliveInterval, keepaliveTimeout);
        }
    }

    /**
     * Workload certificates.
     *
     * @param caAddress ca's {@code IstioCertificateService} endpoint {@code host:port}
     * @param tokenFile the node's bearer token for ca
     * @param rootCertFile PEM roots verifying ca's TLS certificate; empty for plaintext (tests only)
     * @param trustBundleFile PEM roots that workload certificates chain to: the bootstrap trust bundle, in force
     *     until the ca's streamed bundle arrives (and the only one when {@code trustBundle.watch} is off)
     * @param csrTimeout deadline of one {@code CreateCertificate} call, connecting included: past it the call fails
     *     (and is retried with the backoff), so a CA that never answers cannot hold a CSR slot for good
     * @param trustBundle following the ca's trust bundle (roots and CRL)
     */
    public record Identity(String caAddress, String tokenFile, String rootCertFile, String trustBundleFile,
            Duration certTtl, int maxConcurrentCsrs, Duration csrTimeout, Duration initialBackoff,
            Duration maxBackoff, TrustBundleWatch trustBundle, Duration keepaliveInterval, Duration keepaliveTimeout) {
        public Identity {
            keepaliveInterval = positive("identity.keepaliveInterval", keepaliveInterval,
                    Http2Liveness.ISTIO_INTERVAL);
            keepaliveTimeout = positive("identity.keepaliveTimeout", keepaliveTimeout, Http2Liveness.ISTIO_TIMEOUT);
            csrTimeout = positive("identity.csrTimeout", csrTimeout, Duration.ofSeconds(30));
            Objects.requireNonNull(trustBundle, "trustBundle");
            caAddress = caAddress == null ? "" : caAddress;
            tokenFile = tokenFile == null ? "" : tokenFile;
            rootCertFile = rootCertFile == null ? "" : rootCertFile;
            trustBundleFile = trustBundleFile == null ? "" : trustBundleFile;
            Objects.requireNonNull(certTtl, "certTtl");
            positive("maxConcurrentCsrs", maxConcurrentCsrs);
            Objects.requireNonNull(initialBackoff, "initialBackoff");
            Objects.requireNonNull(maxBackoff, "maxBackoff");
        }

        /** The HTTP/2 PING schedule of the connections to ca (certificates and the trust bundle watch). */
        public Http2Liveness.Settings keepalive() {
            return new Http2Liveness.Settings(keepaliveInterval, keepaliveTimeout);
        }
    }

    /**
     * The ca's {@code TrustBundleService/Watch} stream: roots (several during a rotation) and the CRL, so revoked
     * peers are refused and their live tunnels closed.
     *
     * @param watch follow the stream (needs {@code identity.caAddress} or {@code address})
     * @param address ca's gRPC endpoint {@code host:port}; empty = {@code identity.caAddress}
     * @param initialBackoff first reconnect delay; doubles up to {@code maxBackoff}, reset by a received bundle
     */
    public record TrustBundleWatch(boolean watch, String address, Duration initialBackoff, Duration maxBackoff) {
        public TrustBundleWatch {
            address = address == null ? "" : address;
            Objects.requireNonNull(initialBackoff, "initialBackoff");
            Objects.requireNonNull(maxBackoff, "maxBackoff");
        }
    }

    /**
     * Transparent capture: nftables and policy routing in ztunnel's own network namespace (only with {@code
     * listeners.transparent}).
     *
     * @param enabled program the rules (needs CAP_NET_ADMIN and {@code nft}); false leaves capture to someone else
     * @param table name of ztunnel's own nftables table ({@code inet <table>}), replaced and removed as a unit
     * @param socketMark SO_MARK of every socket ztunnel opens or accepts (Istio: 0x539 = 1337)
     * @param captureMark connection/packet mark that routes to the local table (Istio: 0x111 = 273)
     * @param routeTable policy routing table holding {@code local 0.0.0.0/0 dev lo} (Istio: 133)
     * @param podInterface the interface pods' traffic arrives on; empty: any but {@code lo}
     * @param commandTimeout longest an {@code nft}/{@code ip} call may take
     * @param retryInterval wait before retrying after a failed programming
     */
    public record Capture(boolean enabled, String table, int socketMark, int captureMark, int routeTable,
            String podInterface, Duration commandTimeout, Duration retryInterval, String nftCommand,
            String ipCommand, boolean removeOnExit) {
        public Capture {
            requireText(table, "capture.table");
            positive("capture.socketMark", socketMark);
            positive("capture.captureMark", captureMark);
            positive("capture.routeTable", routeTable);
            podInterface = podInterface == null ? "" : podInterface;
            Objects.requireNonNull(commandTimeout, "capture.commandTimeout");
            Objects.requireNonNull(retryInterval, "capture.retryInterval");
            // zero: every nft/ip call would time out at once, and a failed programming would never be retried
            positive("capture.commandTimeout", commandTimeout, commandTimeout);
            positive("capture.retryInterval", retryInterval, retryInterval);
            requireText(nftCommand, "capture.nftCommand");
            requireText(ipCommand, "capture.ipCommand");
        }
    }

    /**
     * The DNS proxy ({@code listeners.dns}): names of the mesh answered from discovery, the rest forwarded.
     *
     * @param clusterDomain Kubernetes' cluster domain: {@code <svc>.<ns>.svc.<clusterDomain>}
     * @param upstreams resolvers to forward to ({@code ip} or {@code ip:port}, IPv6 in brackets), also those that
     *     resolve the service endpoints known by hostname (with the same timeout and attempts); empty: the
     *     {@code nameserver}s of {@code resolvConf}
     * @param resolvConf the system's resolver settings, read once at start (empty: {@code /etc/resolv.conf}): its
     *     {@code nameserver}s when {@code upstreams} is empty, and its {@code search} (or {@code domain}) list and
     *     {@code options ndots:N} for the hostnames of service endpoints
     * @param upstreamTimeout wait for one upstream answer; then the next server is asked, up to
     *     {@code upstreamAttempts} tries in all
     * @param upstreamConcurrency servers one query asks at once, taking the first final answer (hickory's
     *     {@code num_concurrent_reqs}, 2 in Istio's forwarder); 1 asks them one after another
     * @param maxPendingUpstream forwarded UDP queries in flight at once; more are answered SERVFAIL
     * @param tcpIdleTimeout a client's TCP connection without traffic for this long is closed
     * @param maxTcpConnections client TCP connections open at once (each of the proxy's listeners; in in-pod mode
     *     each pod's); more are closed as they come, counted and logged
     * @param maxTcpConnectionsPerClient of those, at most this many from one client address: on a node's listener
     *     every pod of the node is a client, and one that opens connections without end must not take them all
     */
    public record Dns(String clusterDomain, java.util.List<String> upstreams, String resolvConf,
            Duration upstreamTimeout, int upstreamAttempts, int upstreamConcurrency, int maxPendingUpstream,
            Duration tcpIdleTimeout,
            int maxTcpConnections, int maxTcpConnectionsPerClient) {
        public Dns {
            requireText(clusterDomain, "dns.clusterDomain");
            if (!clusterDomain.matches("[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")) {
                throw new IllegalArgumentException("dns.clusterDomain: '" + clusterDomain
                        + "' (expected: lower-case DNS labels separated by dots, no final dot)");
            }
            upstreams = upstreams == null ? java.util.List.of() : java.util.List.copyOf(upstreams);
            io.jmesh.ztunnel.dns.DnsProxy.upstreams(upstreams); // each an address, or the entry is named
            resolvConf = resolvConf == null ? "" : resolvConf;
            Objects.requireNonNull(upstreamTimeout, "dns.upstreamTimeout");
            positive("dns.upstreamTimeout", upstreamTimeout, upstreamTimeout); // zero: every forward fails at once
            positive("dns.upstreamAttempts", upstreamAttempts);
            positive("dns.upstreamConcurrency", upstreamConcurrency);
            if (upstreamConcurrency > 16) {
                throw new IllegalArgumentException("dns.upstreamConcurrency: " + upstreamConcurrency
                        + " (expected: at most 16; every server asked at once is a packet per query)");
            }
            positive("dns.maxPendingUpstream", maxPendingUpstream);
            Objects.requireNonNull(tcpIdleTimeout, "dns.tcpIdleTimeout");
            positive("dns.tcpIdleTimeout", tcpIdleTimeout, tcpIdleTimeout); // zero would switch the idle timer off
            positive("dns.maxTcpConnections", maxTcpConnections);
            positive("dns.maxTcpConnectionsPerClient", maxTcpConnectionsPerClient); // above the total: no effect
        }
    }

    private static void requireText(String v, String field) {
        if (v == null || v.isBlank()) {
            throw new IllegalArgumentException(field + ": empty (expected: a value)");
        }
    }

    private static void positive(String field, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException(field + ": " + v + " (expected: > 0)");
        }
    }

    /** {@code d}, or {@code unset} when it is not set; refused unless above zero. */
    private static Duration positive(String field, Duration d, Duration unset) {
        Duration v = d == null ? unset : d;
        if (v.isNegative() || v.isZero()) {
            throw new IllegalArgumentException(field + ": " + v + " (expected: > 0)");
        }
        return v;
    }

    private static void checkPort(String field, int port) {
        if (port != -1) {
            Ports.check(field, port);
        }
    }

    /**
     * Istio's in-pod mode ({@code PROXY_MODE=shared}): Istio's CNI node agent redirects each ambient pod's traffic
     * inside the pod's own network namespace and hands ztunnel that namespace over {@code socket} (the ZDS protocol);
     * ztunnel then opens the pod's 15001/15006/15008 listeners and its tunnels inside it.
     *
     * @param socket the node agent's {@code SOCK_SEQPACKET} Unix socket (Istio: {@code INPOD_UDS})
     * @param socketMark SO_MARK of every socket in a pod, which the agent's rules let through (Istio:
     *     {@code INPOD_MARK}, 0x539)
     * @param portReuse {@code SO_REUSEPORT} on the pods' listeners, so a restarted ztunnel can bind while the old one
     *     drains (Istio: {@code INPOD_PORT_REUSE})
     * @param retryInterval a pod whose listeners could not be opened is retried this often
     */
    public record InPod(boolean enabled, String socket, int socketMark, boolean portReuse, Duration retryInterval) {
        public InPod {
            requireText(socket, "inpod.socket");
            positive("inpod.socketMark", socketMark);
            Objects.requireNonNull(retryInterval, "inpod.retryInterval");
            // zero: the agent link's receive timeout would be "wait for ever", so a pending pod would never be retried
            positive("inpod.retryInterval", retryInterval, retryInterval);
        }

        /** These settings with the mode off: the node's and each pod's own view, derived from the configured one. */
        public InPod off() {
            return new InPod(false, socket, socketMark, portReuse, retryInterval);
        }
    }
}
