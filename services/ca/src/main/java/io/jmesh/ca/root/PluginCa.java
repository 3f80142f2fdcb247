package io.jmesh.ca.root;

import io.jmesh.core.tls.Pem;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;

/**
 * An operator-provided CA in Istio's {@code cacerts} layout:
 * <ul>
 *   <li>{@code ca-cert.pem}: the certificate that signs workload certificates (usually an intermediate)</li>
 *   <li>{@code ca-key.pem}: its private key</li>
 *   <li>{@code root-cert.pem}: every trusted root (several concatenated during a rotation)</li>
 *   <li>{@code cert-chain.pem}: {@code ca-cert} and the certificates up to the root, leaf-most first (optional
 *       when {@code ca-cert} is signed by a root directly)</li>
 * </ul>
 * The files are read only, never written; {@code root-cert.pem} is copied into the state directory for clients.
 * Replacing the files (e.g. a mounted Secret) takes effect on the next poll; invalid files are refused and the
 * previous material keeps serving.
 */
public final class PluginCa implements AuthoritySource {

    public static final String CA_CERT = "ca-cert.pem";
    public static final String CA_KEY = "ca-key.pem";
    public static final String ROOT_CERT = "root-cert.pem";
    public static final String CERT_CHAIN = "cert-chain.pem";

    private final Path dir;
    private final StateDirectory state;
    private final Clock clock;

    public PluginCa(Path dir, StateDirectory state, Clock clock) {
        this.dir = dir.toAbsolutePath().normalize();
        this.state = state;
        this.clock = clock;
    }

    @Override
    public CaAuthority load() {
        X509Certificate caCert = certificate(CA_CERT);
        PrivateKey key;
        try {
            key = Pem.privateKey(read(CA_KEY, true));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(dir.resolve(CA_KEY) + ": " + e.getMessage(), e);
        }
        List<X509Certificate> roots = certificates(ROOT_CERT);
        List<X509Certificate> intermediates = new ArrayList<>();
        String chain = read(CERT_CHAIN, false);
        if (chain != null && !chain.isBlank()) {
            List<X509Certificate> chainCerts;
            try {
                chainCerts = Pem.certificates(chain);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(dir.resolve(CERT_CHAIN) + ": " + e.getMessage(), e);
            }
            if (!chainCerts.get(0).equals(caCert)) {
                throw new IllegalArgumentException(dir.resolve(CERT_CHAIN) + ": starts with "
                        + CaAuthority.describe(chainCerts.get(0)) + " (expected: ca-cert.pem first)");
            }
            for (X509Certificate c : chainCerts.subList(1, chainCerts.size())) {
                boolean selfSigned = c.getSubjectX500Principal().equals(c.getIssuerX500Principal());
                if (!roots.contains(c) && !selfSigned) {
                    intermediates.add(c);
                }
            }
        }
        CaAuthority authority;
        try {
            authority = CaAuthority.of(caCert, key, intermediates, roots, "plugin:" + dir, clock.instant());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("plug-in CA " + dir + ": " + e.getMessage(), e);
        }
        state.locked(() -> {
            if (!authority.rootsPem().equals(state.readString(StateDirectory.ROOT_CERT))) {
                state.writeString(StateDirectory.ROOT_CERT, authority.rootsPem());
            }
            return null;
        });
        return authority;
    }

    @Override
    public String stamp() {
        return StateDirectory.stamp(List.of(dir.resolve(CA_CERT), dir.resolve(CA_KEY), dir.resolve(ROOT_CERT),
                dir.resolve(CERT_CHAIN)));
    }

    @Override
    public String describe() {
        return "plugin:" + dir;
    }

    private X509Certificate certificate(String name) {
        List<X509Certificate> certs = certificates(name);
        if (certs.size() != 1) {
            throw new IllegalArgumentException(dir.resolve(name) + ": " + certs.size()
                    + " certificates (expected: exactly 1)");
        }
        return certs.get(0);
    }

    private List<X509Certificate> certificates(String name) {
        try {
            return Pem.certificates(read(name, true));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(dir.resolve(name) + ": " + e.getMessage(), e);
        }
    }

    private String read(String name, boolean required) {
        Path p = dir.resolve(name);
        try {
            return Files.readString(p);
        } catch (NoSuchFileException e) {
            if (required) {
                throw new IllegalArgumentException(p + ": missing (expected: Istio cacerts layout: ca-cert.pem,"
                        + " ca-key.pem, root-cert.pem, cert-chain.pem)");
            }
            return null;
        } catch (IOException e) {
            throw new IllegalArgumentException(p + ": unreadable: " + e.getMessage(), e);
        }
    }
}
