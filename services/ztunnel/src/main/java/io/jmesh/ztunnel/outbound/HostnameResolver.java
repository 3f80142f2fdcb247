package io.jmesh.ztunnel.outbound;

import io.jmesh.ztunnel.dns.SilentServers;
import io.jmesh.ztunnel.dns.ZoneNegativeAnswers;
import io.jmesh.ztunnel.tunnel.NetTransport;
import io.netty.channel.ChannelFuture;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.dns.DnsQuestion;
import io.netty.handler.codec.dns.DnsResponseCode;
import io.netty.resolver.ResolvedAddressTypes;
import io.netty.resolver.dns.DefaultDnsCache;
import io.netty.resolver.dns.DefaultDnsCnameCache;
import io.netty.resolver.dns.DnsNameResolver;
import io.netty.resolver.dns.DnsNameResolverBuilder;
import io.netty.resolver.dns.DnsNameResolverChannelStrategy;
import io.netty.resolver.dns.DnsNameResolverTimeoutException;
import io.netty.resolver.dns.DnsQueryLifecycleObserver;
import io.netty.resolver.dns.DnsServerAddresses;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ImmediateEventExecutor;
import io.netty.util.concurrent.Promise;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Resolves the hostnames of service endpoints that have no address (Istio's on-demand DNS: a ServiceEntry endpoint
 * with {@code resolution: DNS}) without blocking an event loop, as Istio's ztunnel does with the system's resolver
 * settings. A name the {@link HostsFile} lists is answered from it (every address, both families); any other is asked
 * of the configured name servers, A and AAAA, by Netty's asynchronous resolver, one per event loop (built up front,
 * so a lookup is a map read). Short names are expanded with resolv.conf's search list as glibc does: a name ending in
 * a dot is asked as it is, only; one with at least {@code ndots} dots is asked as it is, then with each search domain;
 * any other with each search domain, then as it is ({@code ndots:0}: every name as it is, then with each domain).
 * Every query sends from a fresh UDP socket (a random source port, as Istio's resolver does) made by ztunnel's
 * {@link NetTransport}: ztunnel's socket mark and namespace, so capture never takes it; a truncated answer is asked
 * again over TCP the same way. A server silent, failing (SERVFAIL, REFUSED) or denying a name without the zone's SOA
 * is followed by the next try's server; an NXDOMAIN with the zone's SOA is final, as in Istio
 * ({@link ZoneNegativeAnswers}). A server that lets a query time out is held down for a while ({@link SilentServers},
 * shared by every loop's resolver): lookups meanwhile start with the next one.
 *
 * <p>Answers are shared by every loop's resolver and kept for their TTL, at most {@value #MAX_TTL_SECONDS} s (an
 * endpoint behind a DNS name that moves is followed within a minute whatever the zone says); a name that does not
 * exist is remembered {@value #NEGATIVE_TTL_SECONDS} s, so a burst of connections to it asks once.
 */
public final class HostnameResolver implements AutoCloseable {

    static final int MAX_TTL_SECONDS = 60;
    static final int NEGATIVE_TTL_SECONDS = 5;
    /** Hostnames whose lookups in flight are shared, per event loop. */
    static final int CONSOLIDATED_NAMES = 1024;

    /**
     * @param nameServers where names are asked, in order ({@code dns.upstreams}, else resolv.conf's)
     * @param searchDomains appended to a name with fewer than {@code ndots} dots (resolv.conf's {@code search})
     * @param ndots names with at least this many dots are asked as they are first (resolv.conf's, else 1); with 0,
     *     every name is asked as it is, then with each search domain (glibc's order)
     * @param queryTimeout one server's answer is awaited this long ({@code dns.upstreamTimeout})
     * @param attempts tries per record type, the servers taken in turn ({@code dns.upstreamAttempts})
     */
    public record Settings(List<InetSocketAddress> nameServers, List<String> searchDomains, int ndots,
            Duration queryTimeout, int attempts) {
        public Settings {
            nameServers = List.copyOf(nameServers);
            searchDomains = List.copyOf(searchDomains);
        }
    }

    private final HostsFile hosts;
    /**
     * The search list when {@code ndots} is 0, applied here: Netty takes {@code ndots:0} to mean "never search",
     * where glibc asks every name as it is and then goes on with the list. Empty otherwise (Netty applies it).
     */
    private final List<String> searchAfterAsIs;
    private final Map<EventLoop, DnsNameResolver> resolvers;
    /** Any of them, for a caller on a loop that is not ztunnel's (tests); null without name servers. */
    private final DnsNameResolver fallback;

    /** @param hosts read before any name server is asked; the caller closes it */
    public HostnameResolver(NetTransport net, Settings settings, HostsFile hosts) {
        this.hosts = hosts;
        this.searchAfterAsIs = settings.ndots() == 0 ? settings.searchDomains() : List.of();
        Map<EventLoop, DnsNameResolver> byLoop = new HashMap<>();
        if (!settings.nameServers().isEmpty()) {
            SilentServers silent = new SilentServers(settings.nameServers(), settings.queryTimeout());
            DefaultDnsCache answers = new DefaultDnsCache(0, MAX_TTL_SECONDS, NEGATIVE_TTL_SECONDS);
            DefaultDnsCnameCache aliases = new DefaultDnsCnameCache(0, MAX_TTL_SECONDS);
            for (EventExecutor e : net.workers()) {
                EventLoop loop = (EventLoop) e;
                byLoop.put(loop, new DnsNameResolverBuilder(loop)
                        // an NXDOMAIN with the zone's SOA is final, as in Istio, not asked again elsewhere
                        .datagramChannelFactory(ZoneNegativeAnswers.on(net.datagramChannels()))
                        .datagramChannelStrategy(DnsNameResolverChannelStrategy.ChannelPerResolution)
                        .socketChannelFactory(net.socketChannels())
                        // each lookup starts with the first server not held down, and tells which went silent
                        .nameServerProvider(name -> DnsServerAddresses.sequential(tries(settings, silent.first()))
                                .stream())
                        .dnsQueryLifecycleObserverFactory(question -> new SilenceObserver(silent))
                        .hostsFileEntriesResolver(hosts) // never Netty's default: it reads /etc/hosts on the loop
                        .resolveCache(answers)
                        // connections that miss the cache together (a burst after expiry) share one lookup
                        .consolidateCacheSize(CONSOLIDATED_NAMES)
                        .cnameCache(aliases)
                        .resolvedAddressTypes(ResolvedAddressTypes.IPV4_PREFERRED)
                        .completeOncePreferredResolved(false) // both families: the router prefers the caller's
                        // Netty expands names as glibc does: a final dot or ndots dots, as they are first
                        .searchDomains(searchAfterAsIs.isEmpty() ? settings.searchDomains() : List.of())
                        .ndots(Math.max(1, settings.ndots()))
                        .queryTimeoutMillis(Math.max(1, settings.queryTimeout().toMillis()))
                        // A and AAAA, each tried `attempts` times, and room for a CNAME step
                        .maxQueriesPerResolve(2 * settings.attempts() + 2)
                        .build());
            }
        }
        this.resolvers = Map.copyOf(byLoop);
        this.fallback = byLoop.isEmpty() ? null : byLoop.values().iterator().next();
    }

    /**
     * The servers asked for one record type, in order: {@code attempts} tries in all, taking the servers in turn from
     * the one at {@code first} (as the DNS proxy's forwarder does); Netty moves to the next entry when one times out.
     */
    static List<InetSocketAddress> tries(Settings settings, int first) {
        List<InetSocketAddress> servers = settings.nameServers();
        List<InetSocketAddress> out = new java.util.ArrayList<>();
        for (int i = 0; i < Math.max(1, settings.attempts()); i++) {
            out.add(servers.get((first + i) % servers.size()));
        }
        return out;
    }

    /** Tells {@link SilentServers} how each query Netty sends fares: a timeout holds its server down. */
    private static final class SilenceObserver implements DnsQueryLifecycleObserver {
        private final SilentServers silent;
        private InetSocketAddress server;

        SilenceObserver(SilentServers silent) {
            this.silent = silent;
        }

        @Override
        public void queryWritten(InetSocketAddress dnsServerAddress, ChannelFuture future) {
            server = dnsServerAddress;
        }

        @Override
        public void queryCancelled(int queriesRemaining) {}

        @Override
        public DnsQueryLifecycleObserver queryRedirected(List<InetSocketAddress> nameServers) {
            return this;
        }

        @Override
        public DnsQueryLifecycleObserver queryCNAMEd(DnsQuestion cnameQuestion) {
            return this;
        }

        @Override
        public DnsQueryLifecycleObserver queryNoAnswer(DnsResponseCode code) {
            answered(); // an answer all the same: the server is there
            return this;
        }

        @Override
        public void queryFailed(Throwable cause) {
            if (server != null && cause instanceof DnsNameResolverTimeoutException) {
                silent.silent(server);
            }
        }

        @Override
        public void querySucceed() {
            answered();
        }

        private void answered() {
            if (server != null) {
                silent.answered(server);
            }
        }
    }

    /**
     * Every address of {@code hostname} (never empty when it succeeds). Completes on {@code loop} when it is one of
     * ztunnel's, at once for a listed or cached answer; fails with the resolver's reason (no such name, no answer in
     * time).
     */
    public Future<List<InetAddress>> resolve(EventLoop loop, String hostname) {
        // Netty takes one address of a hosts resolver that is not its own: every one is wanted
        List<InetAddress> listed = hosts.addresses(hostname, ResolvedAddressTypes.IPV4_PREFERRED);
        if (listed != null) {
            return loop.newSucceededFuture(listed);
        }
        DnsNameResolver r = resolvers.get(loop);
        if (r == null) {
            r = fallback;
        }
        if (r == null) {
            return ImmediateEventExecutor.INSTANCE.newFailedFuture(new IllegalStateException(
                    "no name server (dns.upstreams is empty and resolv.conf names none)"));
        }
        if (searchAfterAsIs.isEmpty() || hostname.endsWith(".")) {
            return ask(r, hostname);
        }
        Promise<List<InetAddress>> result = loop.newPromise();
        askInTurn(r, hostname, 0, result);
        return result;
    }

    /**
     * {@code ndots:0}: the name as it is, then with each search domain, each as an absolute name (so Netty expands
     * none of them), until one resolves; the last failure when none does. Bounded by the search list.
     */
    private void askInTurn(DnsNameResolver r, String name, int domain, Promise<List<InetAddress>> result) {
        String candidate = domain == 0 ? name + "." : name + "." + searchAfterAsIs.get(domain - 1) + ".";
        Future<List<InetAddress>> answer = ask(r, candidate);
        answer.addListener(done -> {
            if (done.isSuccess()) {
                result.trySuccess(answer.getNow());
            } else if (domain < searchAfterAsIs.size()) {
                askInTurn(r, name, domain + 1, result);
            } else {
                result.tryFailure(done.cause());
            }
        });
    }

    private static Future<List<InetAddress>> ask(DnsNameResolver r, String name) {
        try {
            return r.resolveAll(name);
        } catch (RuntimeException e) { // a name no query can carry (a label over 63 bytes, ...)
            return ImmediateEventExecutor.INSTANCE.newFailedFuture(e);
        }
    }

    @Override
    public void close() {
        resolvers.values().forEach(DnsNameResolver::close);
    }
}
