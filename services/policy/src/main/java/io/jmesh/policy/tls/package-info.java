/**
 * policy's own TLS material, read from files: the serving certificate of its gRPC port and the roots it trusts
 * the CA's TokenReview under. Both are re-read while policy runs (Kubernetes rewrites mounted Secrets and
 * ConfigMaps in place), checked before use, and swapped in for new connections without a restart.
 */
package io.jmesh.policy.tls;
