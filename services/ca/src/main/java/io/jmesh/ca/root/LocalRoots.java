package io.jmesh.ca.root;

import io.jmesh.core.tls.Pem;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The self-managed root of trust in a {@link RootStore} (the state directory, or a Kubernetes Secret), and the
 * steps of a root rotation.
 *
 * <p>On first start {@link #load()} generates a root (ECDSA P-256, {@code root.validity}) into {@code ca-cert.pem}
 * and {@code ca-key.pem}; replicas sharing the directory load the same one (generation happens under the
 * directory lock). A rotation has three steps, each an atomic change of files that every replica picks up:
 * <ol>
 *   <li>{@link #prepare()}: a new root in {@code next-ca-*.pem}. It is trusted at once (trust bundle, chains,
 *       {@code root-cert.pem}) but signs nothing yet.</li>
 *   <li>{@link #activate()}: once every peer holds the new bundle, the next root becomes the signing root; the
 *       old one moves to {@code previous-roots.pem} and stays trusted, so certificates it signed keep
 *       verifying.</li>
 *   <li>{@link #retire()}: after the longest-lived certificate under the old root has expired, the old root
 *       leaves the bundle.</li>
 * </ol>
 * Blocking (file I/O); thread-safe through the directory lock.
 */
public final class LocalRoots implements AuthoritySource {

    private static final Logger log = LoggerFactory.getLogger(LocalRoots.class);

    /** The state of the local roots, for {@code ca root status}. */
    public record Status(X509Certificate active, X509Certificate next, List<X509Certificate> previous) {}

    private final RootStore dir;
    private final String organization;
    private final Duration validity;
    private final Clock clock;

    public LocalRoots(RootStore dir, String organization, Duration validity, Clock clock) {
        this.dir = dir;
        this.organization = organization;
        this.validity = validity;
        this.clock = clock;
    }

    @Override
    public CaAuthority load() {
        return dir.locked(() -> {
            if (!dir.exists(StateDirectory.CA_CERT)) {
                if (dir.exists(StateDirectory.CA_KEY)) {
                    throw new IllegalStateException(dir.where(StateDirectory.CA_KEY)
                            + " exists without " + StateDirectory.CA_CERT + " (expected: both or neither)");
                }
                RootGenerator.GeneratedRoot root = RootGenerator.generate(organization, validity, clock.instant());
                dir.writeString(StateDirectory.CA_KEY, Pem.encodePrivateKey(root.key()));
                dir.writeString(StateDirectory.CA_CERT, CaAuthority.pem(root.certificate()));
                log.atInfo().addKeyValue("root", CaAuthority.describe(root.certificate()))
                        .addKeyValue("notAfter", root.certificate().getNotAfter().toInstant().toString())
                        .addKeyValue("store", dir.describe()).log("generated a new root of trust");
            }
            CaAuthority authority = loadLocked();
            String bundle = authority.rootsPem();
            if (!bundle.equals(dir.readString(StateDirectory.ROOT_CERT))) {
                dir.writeString(StateDirectory.ROOT_CERT, bundle);
            }
            return authority;
        });
    }

    private CaAuthority loadLocked() {
        X509Certificate active = Pem.certificate(require(StateDirectory.CA_CERT));
        PrivateKey key = Pem.privateKey(require(StateDirectory.CA_KEY));
        List<X509Certificate> roots = new ArrayList<>();
        roots.add(active);
        String next = dir.readString(StateDirectory.NEXT_CA_CERT);
        if (next != null) {
            roots.add(Pem.certificate(next));
        }
        String previous = dir.readString(StateDirectory.PREVIOUS_ROOTS);
        if (previous != null && !previous.isBlank()) {
            for (X509Certificate p : Pem.certificates(previous)) {
                if (!roots.contains(p)) {
                    roots.add(p);
                }
            }
        }
        return CaAuthority.of(active, key, List.of(), roots, dir.describe(), clock.instant());
    }

    @Override
    public String stamp() {
        return dir.stamp(StateDirectory.CA_CERT, StateDirectory.CA_KEY, StateDirectory.NEXT_CA_CERT,
                StateDirectory.PREVIOUS_ROOTS);
    }

    @Override
    public String describe() {
        return dir.describe();
    }

    public Status status() {
        return dir.locked(() -> {
            String a = dir.readString(StateDirectory.CA_CERT);
            String n = dir.readString(StateDirectory.NEXT_CA_CERT);
            String p = dir.readString(StateDirectory.PREVIOUS_ROOTS);
            return new Status(a == null ? null : Pem.certificate(a), n == null ? null : Pem.certificate(n),
                    p == null || p.isBlank() ? List.of() : Pem.certificates(p));
        });
    }

    /**
     * Step 1 of a rotation: generates the next root. It is trusted from now on, signs nothing yet.
     *
     * @throws IllegalStateException when a next root is already prepared or there is no active root
     */
    public X509Certificate prepare() {
        return dir.locked(() -> {
            if (!dir.exists(StateDirectory.CA_CERT)) {
                throw new IllegalStateException("no active root in " + dir.describe() + " (start the CA once first)");
            }
            if (dir.exists(StateDirectory.NEXT_CA_CERT)) {
                throw new IllegalStateException("a next root is already prepared: "
                        + CaAuthority.describe(Pem.certificate(dir.readString(StateDirectory.NEXT_CA_CERT)))
                        + " (expected: activate it, or delete next-ca-*.pem)");
            }
            RootGenerator.GeneratedRoot root = RootGenerator.generate(organization, validity, clock.instant());
            dir.writeString(StateDirectory.NEXT_CA_KEY, Pem.encodePrivateKey(root.key()));
            dir.writeString(StateDirectory.NEXT_CA_CERT, CaAuthority.pem(root.certificate()));
            dir.writeString(StateDirectory.ROOT_CERT, loadLocked().rootsPem());
            log.atInfo().addKeyValue("root", CaAuthority.describe(root.certificate()))
                    .log("prepared the next root: trusted now, signing after activation");
            return root.certificate();
        });
    }

    /**
     * Step 2: the prepared root signs from now on; the old one stays trusted in {@code previous-roots.pem}.
     *
     * @return the new signing root
     * @throws IllegalStateException when no next root is prepared
     */
    public X509Certificate activate() {
        return dir.locked(() -> {
            String nextCert = dir.readString(StateDirectory.NEXT_CA_CERT);
            String nextKey = dir.readString(StateDirectory.NEXT_CA_KEY);
            if (nextCert == null || nextKey == null) {
                throw new IllegalStateException("no next root prepared in " + dir.describe() + " (expected: run 'root prepare'"
                        + " first and wait until every ztunnel holds the new trust bundle)");
            }
            X509Certificate next = Pem.certificate(nextCert);
            X509Certificate active = Pem.certificate(require(StateDirectory.CA_CERT));
            List<X509Certificate> previous = new ArrayList<>();
            String p = dir.readString(StateDirectory.PREVIOUS_ROOTS);
            if (p != null && !p.isBlank()) {
                previous.addAll(Pem.certificates(p));
            }
            if (!previous.contains(active)) {
                previous.add(0, active);
            }
            StringBuilder sb = new StringBuilder();
            previous.forEach(c -> sb.append(CaAuthority.pem(c)));
            // order matters for readers that poll: previous roots first, so the old root is never untrusted
            dir.writeString(StateDirectory.PREVIOUS_ROOTS, sb.toString());
            dir.writeString(StateDirectory.CA_KEY, nextKey);
            dir.writeString(StateDirectory.CA_CERT, nextCert);
            dir.delete(StateDirectory.NEXT_CA_CERT);
            dir.delete(StateDirectory.NEXT_CA_KEY);
            dir.writeString(StateDirectory.ROOT_CERT, loadLocked().rootsPem());
            log.atInfo().addKeyValue("root", CaAuthority.describe(next))
                    .addKeyValue("previous", CaAuthority.describe(active)).log("activated the next root");
            return next;
        });
    }

    /**
     * Step 3: stops trusting every previous root.
     *
     * @return the roots no longer trusted
     */
    public List<X509Certificate> retire() {
        return dir.locked(() -> {
            String p = dir.readString(StateDirectory.PREVIOUS_ROOTS);
            List<X509Certificate> retired = p == null || p.isBlank() ? List.of() : Pem.certificates(p);
            dir.delete(StateDirectory.PREVIOUS_ROOTS);
            if (dir.exists(StateDirectory.CA_CERT)) {
                dir.writeString(StateDirectory.ROOT_CERT, loadLocked().rootsPem());
            }
            for (X509Certificate r : retired) {
                log.atInfo().addKeyValue("root", CaAuthority.describe(r)).log("retired a previous root");
            }
            return retired;
        });
    }

    private String require(String name) {
        String s = dir.readString(name);
        if (s == null) {
            throw new IllegalStateException(dir.where(name) + ": missing");
        }
        return s;
    }
}
