package io.jmesh.policy.source;

/**
 * A producer of configuration objects (a manifest directory today, Kubernetes informers later). It reads its
 * origin, hands documents to a {@link ConfigSink} and deletes the objects that disappeared from its origin.
 * Sources never write the log directly, so every object is validated the same way.
 */
public interface ConfigSource extends AutoCloseable {

    /** Source label recorded on every object it writes, e.g. {@code file:/etc/mesh}. */
    String name();

    /** Starts reading; called once, after the replica has replayed the log. */
    void start(ConfigSink sink);

    @Override
    void close();
}
