/**
 * policy's own TLS material, read from files: the serving certificate of its gRPC port, checked as a pair before
 * it is served. The files are re-read while policy runs (mesh-core's {@code ReloadedFiles}), as are the roots it
 * trusts the CA's TokenReview under.
 */
package io.jmesh.policy.tls;
