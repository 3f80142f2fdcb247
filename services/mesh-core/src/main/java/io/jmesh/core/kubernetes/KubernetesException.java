package io.jmesh.core.kubernetes;

/** The Kubernetes API could not be reached or did not answer usefully; the message says which call and why. */
public final class KubernetesException extends RuntimeException {

    public KubernetesException(String message) {
        super(message);
    }

    public KubernetesException(String message, Throwable cause) {
        super(message, cause);
    }
}
