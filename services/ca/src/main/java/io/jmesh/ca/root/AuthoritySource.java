package io.jmesh.ca.root;

/**
 * Where the CA's signing material comes from. The CA polls {@link #stamp()} and calls {@link #load()} again when
 * it changes, so a root rotation or a replaced plug-in CA takes effect without a restart.
 *
 * <p>Implementations are blocking (file I/O): call them off event loops.
 */
public interface AuthoritySource {

    /** Loads and validates the current material; also (re)writes {@code root-cert.pem} in the state directory. */
    CaAuthority load();

    /** Changes whenever the material may have changed. */
    String stamp();

    /** For logs: {@code state-dir:<path>} or {@code plugin:<path>}. */
    String describe();
}
