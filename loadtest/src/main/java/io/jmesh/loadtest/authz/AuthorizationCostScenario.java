package io.jmesh.loadtest.authz;

import com.google.protobuf.Empty;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.loadtest.BenchContext;
import io.jmesh.loadtest.ResultTable;
import io.jmesh.loadtest.Scenario;
import io.jmesh.proto.istio.security.Action;
import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.proto.istio.security.Clause;
import io.jmesh.proto.istio.security.Match;
import io.jmesh.proto.istio.security.Rule;
import io.jmesh.proto.istio.security.Scope;
import io.jmesh.proto.istio.security.StringMatch;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.net.InetAddress;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import org.HdrHistogram.Histogram;

/**
 * ztunnel's per-connection authorization cost with many policies in scope, measured on the built ztunnel jar
 * (its {@code io.jmesh.ztunnel.authz.IndexedAuthorizer}, loaded in this JVM). Baselines in the same run: no
 * policy at all, and 10 policies in scope; the same 10,000 policies written so they cannot be indexed show what
 * the principal index saves. Goal: ≤ 2 µs per decision with 10,000 policies in scope.
 */
public final class AuthorizationCostScenario implements Scenario {

    private static final int BATCH = 1_000;
    private static final String NS = "shop";

    @Override
    public String name() {
        return "authz-cost";
    }

    @Override
    public String description() {
        return "ztunnel L4 authorization: time per decision (one thread) with N policies in scope of the destination";
    }

    @Override
    public ResultTable run(BenchContext ctx) throws Exception {
        var jar = ctx.serviceJar("ztunnel");
        if (!Files.exists(jar)) {
            throw new IllegalStateException(jar + " missing: run `make build` first");
        }
        try (URLClassLoader loader = new URLClassLoader(new URL[] {jar.toUri().toURL()},
                AuthorizationCostScenario.class.getClassLoader())) {
            return measureAll(ctx, new Authz(loader));
        } catch (Exception | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static ResultTable measureAll(BenchContext ctx, Authz authz) throws Throwable {
        {
            long iterations = ctx.quick() ? 2_000_000 : 20_000_000;
            ResultTable table = new ResultTable("policies in scope", "how they are written", "decision",
                    "mean ns/decision", "p99 ns/decision (per 1k batch)", "goal");
            measure(table, authz, "0", "none (default allow)", List.of(), iterations);
            measure(table, authz, "10", "ALLOW, exact principals", allows(10, true), iterations);
            measure(table, authz, "10,000", "ALLOW, exact principals (indexed)", allows(10_000, true), iterations);
            measure(table, authz, "10,000 + 100 DENY", "ALLOW exact + DENY by port (both indexed)",
                    withDenies(allows(10_000, true), 100), iterations);
            measure(table, authz, "10,000", "ALLOW, principal prefixes (affix index)", allows(10_000, false),
                    iterations);
            table.note("Each decision: a connection from spiffe://cluster.local/ns/client/sa/sa-<k> (k varies, the"
                    + " matching policy is the last one written) to a workload in namespace `" + NS + "`, so a"
                    + " linear scan would visit every policy. Namespace-scoped policies. Goal ≤ 2 µs.");
            table.note("Rows are the same code path. Prefixes: each principal matches up to four of them (sa-1,"
                    + " sa-12, ... are all prefixes of sa-1234), found by one pass over the principal. p99 is"
                    + " sensitive to other load on the machine: compare the load average printed by `uptime`.");
            table.note("Batches of " + BATCH + " decisions timed with System.nanoTime; the p99 is over batch"
                    + " means. Warm-up: the same number of decisions before measuring.");
            return table;
        }
    }

    private static void measure(ResultTable table, Authz authz, String count, String how,
            List<Authorization> policies, long iterations) throws Throwable {
        Object store = authz.newStore();
        authz.replaceAll(store, policies);
        int principals = Math.max(1, (int) policies.stream().filter(p -> p.getAction() == Action.ALLOW).count());
        Object[] facts = new Object[64];
        for (int i = 0; i < facts.length; i++) {
            // the last policies written: worst case for a scan
            int k = principals - 1 - i % Math.min(principals, 8);
            facts[i] = authz.facts(SpiffeId.of("cluster.local", "client", "sa-" + k), 8080);
        }
        boolean allowed = authz.allowed(authz.check(store, facts[0]));
        run(authz, store, facts, iterations, null); // warm-up
        Histogram h = new Histogram(3);
        long start = System.nanoTime();
        run(authz, store, facts, iterations, h);
        double mean = (System.nanoTime() - start) / (double) iterations;
        double p99 = h.getValueAtPercentile(99) / (double) BATCH;
        table.row(count, how, allowed ? "allow" : "deny", mean, p99, mean <= 2000 ? "met" : "missed");
    }

    private static void run(Authz authz, Object store, Object[] facts, long iterations, Histogram h)
            throws Throwable {
        long sink = 0;
        for (long done = 0; done < iterations; done += BATCH) {
            long t0 = System.nanoTime();
            for (int i = 0; i < BATCH; i++) {
                sink += authz.check(store, facts[i & 63]).hashCode();
            }
            if (h != null) {
                h.recordValue(System.nanoTime() - t0);
            }
        }
        if (sink == 42) {
            System.out.print(""); // keeps the results alive
        }
    }

    static List<Authorization> allows(int n, boolean exact) {
        List<Authorization> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            String principal = "cluster.local/ns/client/sa/sa-" + i;
            StringMatch m = exact ? StringMatch.newBuilder().setExact(principal).build()
                    : StringMatch.newBuilder().setPrefix(principal).build();
            out.add(policy("allow-" + i, Action.ALLOW, Match.newBuilder().addPrincipals(m)
                    .addDestinationPorts(8080).build()));
        }
        return out;
    }

    static List<Authorization> withDenies(List<Authorization> allows, int denies) {
        List<Authorization> out = new ArrayList<>(allows);
        for (int i = 0; i < denies; i++) {
            out.add(policy("deny-" + i, Action.DENY, Match.newBuilder().addDestinationPorts(20_000 + i)
                    .addNotPrincipals(StringMatch.newBuilder().setPresence(Empty.getDefaultInstance())).build()));
        }
        return out;
    }

    static Authorization policy(String name, Action action, Match match) {
        return Authorization.newBuilder().setNamespace(NS).setName(name).setScope(Scope.NAMESPACE).setAction(action)
                .addRules(Rule.newBuilder().addClauses(Clause.newBuilder().addMatches(match))).build();
    }

    /** The ztunnel authz API reached through method handles on the jar's classes. */
    private static final class Authz {
        private final MethodHandle newStore;
        private final MethodHandle replaceAll;
        private final MethodHandle newFacts;
        private final MethodHandle check;
        private final MethodHandle allowed;

        Authz(ClassLoader loader) throws Exception {
            MethodHandles.Lookup lookup = MethodHandles.publicLookup();
            Class<?> store = loader.loadClass("io.jmesh.ztunnel.authz.IndexedAuthorizer");
            Class<?> facts = loader.loadClass("io.jmesh.ztunnel.authz.ConnectionFacts");
            Class<?> decision = loader.loadClass("io.jmesh.ztunnel.authz.Decision");
            newStore = lookup.findConstructor(store, MethodType.methodType(void.class)).asType(
                    MethodType.methodType(Object.class));
            replaceAll = lookup.findVirtual(store, "replaceAll", MethodType.methodType(void.class, Collection.class))
                    .asType(MethodType.methodType(void.class, Object.class, Collection.class));
            newFacts = lookup.findConstructor(facts, MethodType.methodType(void.class, SpiffeId.class,
                    InetAddress.class, InetAddress.class, int.class, String.class, List.class))
                    .asType(MethodType.methodType(Object.class, SpiffeId.class, InetAddress.class, InetAddress.class,
                            int.class, String.class, List.class));
            check = lookup.findVirtual(store, "check", MethodType.methodType(decision, facts))
                    .asType(MethodType.methodType(Object.class, Object.class, Object.class));
            allowed = lookup.findVirtual(decision, "allowed", MethodType.methodType(boolean.class))
                    .asType(MethodType.methodType(boolean.class, Object.class));
        }

        Object newStore() throws Throwable {
            return newStore.invokeExact();
        }

        void replaceAll(Object store, List<Authorization> policies) throws Throwable {
            replaceAll.invokeExact(store, (Collection<?>) policies);
        }

        Object facts(SpiffeId id, int port) throws Throwable {
            return newFacts.invokeExact(id, InetAddress.getByName("10.0.0.1"), InetAddress.getByName("10.1.0.5"), port,
                    NS, (List<?>) List.of());
        }

        Object check(Object store, Object facts) throws Throwable {
            return check.invokeExact(store, facts);
        }

        boolean allowed(Object decision) throws Throwable {
            return (boolean) allowed.invokeExact(decision);
        }
    }
}
