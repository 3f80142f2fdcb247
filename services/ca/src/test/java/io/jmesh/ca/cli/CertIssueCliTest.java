package io.jmesh.ca.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.ca.root.LocalRoots;
import io.jmesh.ca.root.StateDirectory;
import io.jmesh.core.tls.Certificates;
import io.jmesh.core.tls.Pem;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code ca cert issue}: a control-plane service's serving certificate, from the CA's state directory. */
class CertIssueCliTest {

    @TempDir
    Path dir;

    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    private int cli(String... args) {
        return new CaCli(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), Clock.systemUTC()).run(args);
    }

    @Test
    void issuesAServiceIdentityWithItsNamesChainedToTheRoot() throws Exception {
        Path state = dir.resolve("state");
        Path cert = dir.resolve("policy-cert.pem");
        Path key = dir.resolve("policy-key.pem");

        int code = cli("cert", "issue", "--service", "policy", "--dns", "policy.istio-system.svc, localhost",
                "--ip", "127.0.1.2", "--validity", "7d", "--cert-out", cert.toString(), "--key-out", key.toString(),
                "--state-dir", state.toString(), "--trust-domain", "cluster.local");

        assertThat(code).as(err.toString(StandardCharsets.UTF_8)).isZero();
        List<X509Certificate> chain = Pem.certificates(Files.readString(cert));
        X509Certificate leaf = chain.get(0);
        assertThat(Certificates.uriSans(leaf)).containsExactly("spiffe://cluster.local/ns/istio-system/sa/policy");
        assertThat(leaf.getSubjectAlternativeNames()).extracting(n -> n.get(1).toString())
                .contains("policy.istio-system.svc", "localhost", "127.0.1.2");
        assertThat(leaf.getExtendedKeyUsage()).contains("1.3.6.1.5.5.7.3.1");   // serverAuth
        assertThat(Duration.between(leaf.getNotBefore().toInstant(), leaf.getNotAfter().toInstant()))
                .isBetween(Duration.ofDays(7), Duration.ofDays(7).plusMinutes(10));
        X509Certificate root = new LocalRoots(StateDirectory.open(state), "cluster.local", Duration.ofDays(3650),
                Clock.systemUTC()).load().roots().get(0);
        Certificates.verifyChain(chain, List.of(root), new java.util.Date());
        assertThat(Pem.privateKey(Files.readString(key)).getAlgorithm()).isEqualTo("EC");
        assertThat(Files.getPosixFilePermissions(key))
                .isEqualTo(Set.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE));
    }

    @Test
    void refusesWorkloadLikeNamesAndValidityAboveTheMaximumNamingTheOption() {
        String state = dir.resolve("state").toString();
        assertThat(cli("cert", "issue", "--service", "Policy/x", "--cert-out", "c", "--key-out", "k",
                "--state-dir", state)).isEqualTo(1);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("--service: 'Policy/x'");
        assertThat(cli("cert", "issue", "--service", "policy", "--validity", "91d", "--cert-out", "c", "--key-out",
                "k", "--state-dir", state)).isEqualTo(1);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("--validity: 91d");
        assertThat(cli("cert", "issue", "--service", "policy", "--state-dir", state)).isEqualTo(2);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("--cert-out is required");
    }
}
