package io.jmesh.ca.root;

/**
 * Where the self-managed root of trust is kept: named PEM entries ({@code ca-cert.pem}, {@code ca-key.pem}, the
 * rotation's {@code next-ca-*.pem} and {@code previous-roots.pem}, the bundle in {@code root-cert.pem}) changed
 * together. Local mode: files in the {@link StateDirectory}; Kubernetes mode: keys of one Secret
 * ({@link io.jmesh.ca.kubernetes.SecretRootStore}).
 *
 * <p>Changes happen only inside {@link #locked}, which makes them atomic against other replicas and the CLI:
 * either all of a step's writes are seen, or none. Blocking: call off event loops.
 */
public interface RootStore {

    boolean exists(String name);

    /** The entry's text, or null when it does not exist. */
    String readString(String name);

    void writeString(String name, String content);

    void delete(String name);

    /** Runs {@code work} exclusively against other writers; its writes take effect together. */
    <T> T locked(StateDirectory.LockedWork<T> work);

    /** Changes whenever one of {@code names} may have changed; cheap enough to poll every second. */
    String stamp(String... names);

    /** For messages: where {@code name} is kept. */
    String where(String name);

    /** For logs and {@code CaAuthority.source()}: {@code state-dir:<path>} or {@code secret:<ns>/<name>}. */
    String describe();
}
