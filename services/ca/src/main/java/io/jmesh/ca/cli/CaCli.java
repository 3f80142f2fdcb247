package io.jmesh.ca.cli;

import io.jmesh.ca.CaConfig;
import io.jmesh.ca.auth.BootstrapTokens;
import io.jmesh.ca.auth.Caller;
import io.jmesh.ca.kubernetes.KubernetesSettings;
import io.jmesh.ca.kubernetes.SecretRootStore;
import io.jmesh.ca.revocation.RevocationStore;
import io.jmesh.ca.revocation.RevokedIdentity;
import io.jmesh.ca.root.CaAuthority;
import io.jmesh.ca.root.LocalRoots;
import io.jmesh.ca.root.PluginCa;
import io.jmesh.ca.root.RootStore;
import io.jmesh.ca.root.StateDirectory;
import io.jmesh.ca.server.ServingCertificate;
import io.jmesh.core.config.ConfigLoader;
import io.jmesh.core.config.Durations;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.kubernetes.KubernetesApi;
import io.jmesh.core.kubernetes.KubernetesException;
import io.jmesh.proto.ca.v1.Revocation;
import io.jmesh.proto.ca.v1.RevocationReason;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Operator commands that work on the CA's state directory directly (the running replicas pick the changes up at
 * their next {@code stateReloadInterval}):
 * <pre>
 *   ca token create --node NAME | --service NAME [--ttl 24h] [--out FILE] [--description TEXT]
 *   ca token rotate --node NAME [--ttl 24h] [--out FILE]      revokes the node's tokens, mints a new one
 *   ca token revoke --id TOKEN_ID
 *   ca token list
 *   ca root status | prepare | activate | retire              root rotation (docs/ca.md)
 *   ca revoke --serial HEX | --identity SPIFFE_ID [--reason key-compromise] [--comment TEXT]
 *   ca cert issue --service NAME --cert-out FILE --key-out FILE [--dns A,B] [--ip X,Y] [--validity 24h]
 * </pre>
 * {@code cert issue} gives a control-plane service (e.g. policy) its TLS serving certificate, identity
 * {@code spiffe://<td>/ns/istio-system/sa/<NAME>}, signed by the active signing CA.
 * Common options: {@code --state-dir DIR} and {@code --trust-domain TD}, or {@code --config FILE} to take both from
 * the CA's configuration. A token is printed on stdout (nothing else is), or written to {@code --out} (mode 0600).
 *
 * <p>Exit codes: 0 done, 1 the command failed (message on stderr), 2 bad usage.
 */
public final class CaCli {

    /** The first words that select the CLI instead of the server. */
    public static final Set<String> COMMANDS = Set.of("token", "root", "revoke", "cert", "help", "--help");

    private static final Set<String> FLAGS_WITH_VALUE = Set.of("--node", "--service", "--ttl", "--out",
            "--description", "--id", "--state-dir", "--trust-domain", "--config", "--serial", "--identity", "--reason",
            "--comment", "--dns", "--ip", "--validity", "--cert-out", "--key-out");

    private final PrintStream out;
    private final PrintStream err;
    private final Clock clock;

    public CaCli(PrintStream out, PrintStream err, Clock clock) {
        this.out = out;
        this.err = err;
        this.clock = clock;
    }

    /** Runs one command; returns the exit code. */
    public int run(String... args) {
        if (args.length == 0 || args[0].equals("help") || args[0].equals("--help")) {
            usage();
            return args.length == 0 ? 2 : 0;
        }
        Map<String, String> opts = new HashMap<>();
        String sub = null;
        for (int i = 1; i < args.length; i++) {
            String a = args[i];
            if (FLAGS_WITH_VALUE.contains(a)) {
                if (i + 1 >= args.length) {
                    return usageError(a + ": missing value");
                }
                opts.put(a, args[++i]);
            } else if (a.startsWith("--")) {
                return usageError("unknown option " + a);
            } else if (sub == null) {
                sub = a;
            } else {
                return usageError("unexpected argument " + a);
            }
        }
        if (sub == null && !args[0].equals("revoke")) {
            return usageError(args[0] + ": missing subcommand");
        }
        try {
            Settings s = settings(opts);
            return switch (args[0]) {
                case "token" -> token(sub, opts, s);
                case "root" -> root(sub, s);
                case "revoke" -> sub != null ? usageError("revoke: unexpected argument " + sub) : revoke(opts, s);
                case "cert" -> "issue".equals(sub) ? certIssue(opts, s)
                        : usageError("cert: unknown subcommand " + sub + " (expected: issue)");
                default -> usageError("unknown command " + args[0]);
            };
        } catch (IllegalArgumentException | IllegalStateException | java.io.UncheckedIOException
                | KubernetesException e) {
            err.println("ca " + args[0] + " " + sub + ": " + e.getMessage());
            return 1;
        }
    }

    private record Settings(StateDirectory dir, String trustDomain, CaConfig config) {
        /** Where the self-managed root lives: the Secret in Kubernetes mode, else the state directory. */
        RootStore roots() {
            if (config != null && config.kubernetes().enabled()) {
                KubernetesSettings k = config.kubernetes();
                return new SecretRootStore(KubernetesApi.create(k.connection()), k.effectiveNamespace(), k.rootSecret());
            }
            return dir;
        }
    }

    private static Settings settings(Map<String, String> opts) {
        CaConfig config = null;
        if (opts.containsKey("--config")) {
            config = ConfigLoader.load(CaConfig.class, "ca", Path.of(opts.get("--config")), System.getenv()).config();
        }
        String dir = opts.getOrDefault("--state-dir", config != null ? config.stateDir() : null);
        if (dir == null) {
            throw new IllegalArgumentException("--state-dir: missing (expected: the CA's state directory, or"
                    + " --config with stateDir)");
        }
        String td = opts.getOrDefault("--trust-domain", config != null ? config.trustDomain() : "cluster.local");
        return new Settings(StateDirectory.open(Path.of(dir)), td, config);
    }

    private int token(String sub, Map<String, String> opts, Settings s) {
        BootstrapTokens tokens = new BootstrapTokens(s.dir(), s.trustDomain(), clock);
        // without --ttl: the configured tokens.defaultTtl when --config is given (0s = never expires)
        Duration ttl = opts.containsKey("--ttl") ? Durations.parse(opts.get("--ttl"))
                : s.config() != null ? s.config().tokens().defaultTtl() : null;
        String who = "cli:" + System.getProperty("user.name", "?");
        String description = opts.getOrDefault("--description", "");
        BootstrapTokens.Created created;
        switch (sub) {
            case "create" -> {
                if (opts.containsKey("--node") == opts.containsKey("--service")) {
                    return usageError("token create: exactly one of --node or --service");
                }
                created = opts.containsKey("--node")
                        ? tokens.createForNode(opts.get("--node"), ttl, who, description)
                        : tokens.createForService(opts.get("--service"), ttl, who, description);
            }
            case "rotate" -> {
                if (!opts.containsKey("--node")) {
                    return usageError("token rotate: --node is required");
                }
                created = tokens.rotateForNode(opts.get("--node"), ttl, who, description);
            }
            case "revoke" -> {
                if (!opts.containsKey("--id")) {
                    return usageError("token revoke: --id is required");
                }
                BootstrapTokens.TokenInfo t = tokens.revoke(opts.get("--id"));
                err.println("revoked token " + t.id() + " (" + subject(t) + ") at " + t.revokedAt());
                return 0;
            }
            case "list" -> {
                for (BootstrapTokens.TokenInfo t : tokens.list()) {
                    String state = t.revokedAt() != null ? "revoked " + t.revokedAt()
                            : t.expiresAt() != null && !clock.instant().isBefore(t.expiresAt()) ? "expired"
                            : "active";
                    out.println(t.id() + "\t" + subject(t) + "\t" + state + "\tcreated " + t.createdAt()
                            + (t.expiresAt() == null ? "" : "\texpires " + t.expiresAt()));
                }
                return 0;
            }
            default -> {
                return usageError("token: unknown subcommand " + sub + " (expected: create, rotate, revoke, list)");
            }
        }
        String file = opts.get("--out");
        if (file != null) {
            StateDirectory.write(Path.of(file).toAbsolutePath(), (created.token() + "\n").getBytes(StandardCharsets.UTF_8));
            err.println("token " + created.info().id() + " for " + subject(created.info()) + " written to " + file);
        } else {
            out.println(created.token());
            err.println("token " + created.info().id() + " for " + subject(created.info())
                    + " (shown once; the CA keeps only its hash)");
        }
        return 0;
    }

    private int root(String sub, Settings s) {
        if (s.config() != null && s.config().root().plugin()) {
            throw new IllegalStateException("root: the CA uses a plug-in CA (" + s.config().root().pluginCertsDir()
                    + "); rotate it by replacing the cacerts files");
        }
        Duration validity = s.config() != null ? s.config().root().validity() : Duration.ofDays(3650);
        String org = s.config() != null && !s.config().root().organization().isEmpty()
                ? s.config().root().organization() : s.trustDomain();
        LocalRoots roots = new LocalRoots(s.roots(), org, validity, clock);
        switch (sub) {
            case "status" -> {
                LocalRoots.Status st = roots.status();
                out.println("active   " + describe(st.active()));
                out.println("next     " + describe(st.next()));
                for (X509Certificate p : st.previous()) {
                    out.println("previous " + describe(p));
                }
                return 0;
            }
            case "prepare" -> {
                X509Certificate next = roots.prepare();
                err.println("prepared " + CaAuthority.describe(next) + ": trusted from now on, not signing yet."
                        + " Activate once every ztunnel holds the new trust bundle.");
                return 0;
            }
            case "activate" -> {
                X509Certificate active = roots.activate();
                err.println("activated " + CaAuthority.describe(active) + ": new certificates chain to it; the"
                        + " previous root stays trusted until 'root retire'.");
                return 0;
            }
            case "retire" -> {
                List<X509Certificate> retired = roots.retire();
                err.println("retired " + retired.size() + " previous root(s)");
                return 0;
            }
            default -> {
                return usageError("root: unknown subcommand " + sub + " (expected: status, prepare, activate, retire)");
            }
        }
    }

    private int revoke(Map<String, String> opts, Settings s) {
        if (opts.containsKey("--serial") == opts.containsKey("--identity")) {
            return usageError("revoke: exactly one of --serial or --identity");
        }
        RevocationReason reason = reason(opts.getOrDefault("--reason", "unspecified"));
        String comment = opts.getOrDefault("--comment", "");
        String by = "cli:" + System.getProperty("user.name", "?");
        RevocationStore store = new RevocationStore(s.dir(), clock,
                s.config() == null ? null : s.config().certificates().maxValidity());
        List<Revocation> added;
        if (opts.containsKey("--serial")) {
            added = store.revokeSerial(opts.get("--serial"), reason, comment, by);
        } else {
            SpiffeId id = RevokedIdentity.parse("--identity", opts.get("--identity"), s.trustDomain());
            added = store.revokeIdentity(id.uri(), reason, comment, by);
        }
        for (Revocation r : added) {
            out.println(r.getSerialHex());
        }
        err.println("revoked " + added.size() + " certificate(s); every replica re-signs its CRL within its"
                + " stateReloadInterval");
        return 0;
    }

    private int certIssue(Map<String, String> opts, Settings s) {
        for (String required : List.of("--service", "--cert-out", "--key-out")) {
            if (!opts.containsKey(required)) {
                return usageError("cert issue: " + required + " is required");
            }
        }
        String service = opts.get("--service");
        if (!service.matches("[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")) {
            throw new IllegalArgumentException("--service: '" + service
                    + "' (expected: a DNS label, the service account of a control-plane service, e.g. policy)");
        }
        Duration validity = Durations.parse(opts.getOrDefault("--validity", "24h"));
        Duration max = s.config() != null ? s.config().certificates().maxValidity() : Duration.ofDays(90);
        if (validity.isNegative() || validity.isZero() || validity.compareTo(max) > 0) {
            throw new IllegalArgumentException("--validity: " + opts.get("--validity") + " (expected: above 0 and at"
                    + " most " + max.toDays() + "d, certificates.maxValidity)");
        }
        CaAuthority ca;
        if (s.config() != null && s.config().root().plugin()) {
            ca = new PluginCa(Path.of(s.config().root().pluginCertsDir()), s.dir(), clock).load();
        } else {
            Duration rootValidity = s.config() != null ? s.config().root().validity() : Duration.ofDays(3650);
            ca = new LocalRoots(s.roots(), s.trustDomain(), rootValidity, clock).load();
        }
        ServingCertificate cert = ServingCertificate.issue(ca, s.trustDomain(), service, list(opts.get("--dns")),
                list(opts.get("--ip")), validity, clock.instant());
        StateDirectory.write(Path.of(opts.get("--key-out")).toAbsolutePath(),
                cert.keyPem().getBytes(StandardCharsets.UTF_8));
        StateDirectory.write(Path.of(opts.get("--cert-out")).toAbsolutePath(),
                cert.chainPem().getBytes(StandardCharsets.UTF_8));
        err.println("issued " + Caller.serviceIdentity(s.trustDomain(), service).uri() + " until " + cert.notAfter()
                + " by " + CaAuthority.describe(ca.signingCert()) + " to " + opts.get("--cert-out"));
        return 0;
    }

    private static List<String> list(String commaSeparated) {
        return commaSeparated == null || commaSeparated.isBlank() ? List.of()
                : List.of(commaSeparated.trim().split("\\s*,\\s*"));
    }

    /** {@code key-compromise} or {@code KEY_COMPROMISE} → the enum value. */
    static RevocationReason reason(String text) {
        String name = text.trim().toUpperCase(java.util.Locale.ROOT).replace('-', '_');
        if (name.equals("UNSPECIFIED")) {
            return RevocationReason.REVOCATION_REASON_UNSPECIFIED;
        }
        try {
            RevocationReason r = RevocationReason.valueOf(name);
            if (r != RevocationReason.UNRECOGNIZED) {
                return r;
            }
        } catch (IllegalArgumentException e) {
            // below
        }
        throw new IllegalArgumentException("--reason: '" + text + "' (expected: unspecified, key-compromise,"
                + " ca-compromise, affiliation-changed, superseded, cessation-of-operation, privilege-withdrawn)");
    }

    private static String describe(X509Certificate c) {
        return c == null ? "-" : CaAuthority.describe(c) + " notAfter " + c.getNotAfter().toInstant()
                + " sha256 " + CaAuthority.fingerprint(c).substring(0, 16);
    }

    private static String subject(BootstrapTokens.TokenInfo t) {
        return t.node() != null ? "node " + t.node() : "service " + t.service();
    }

    private int usageError(String message) {
        err.println("ca: " + message);
        usage();
        return 2;
    }

    private void usage() {
        err.println("""
                usage: java -jar ca.jar [--config ca.yaml]                 run the CA
                       java -jar ca.jar token create --node NAME | --service NAME [--ttl 24h] [--out FILE]
                       java -jar ca.jar token rotate --node NAME [--ttl 24h] [--out FILE]
                       java -jar ca.jar token revoke --id TOKEN_ID
                       java -jar ca.jar token list
                       java -jar ca.jar root status | prepare | activate | retire
                       java -jar ca.jar revoke --serial HEX | --identity SPIFFE_ID [--reason key-compromise] [--comment TEXT]
                       java -jar ca.jar cert issue --service NAME --cert-out FILE --key-out FILE [--dns A,B] [--ip X,Y] [--validity 24h]
                options: --state-dir DIR, --trust-domain TD, or --config FILE (stateDir, trustDomain, root.*)""");
    }
}
