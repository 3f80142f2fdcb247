package io.jmesh.policy.state;

/**
 * Mesh-wide facts the translation needs.
 *
 * @param rootNamespace policies here without a selector apply to the whole mesh
 * @param trustDomain the SPIFFE trust domain of workload identities
 * @param clusterId the cluster id workloads carry (part of their xDS uid)
 * @param domainSuffix the DNS suffix of service hostnames ({@code cluster.local})
 */
public record MeshSettings(String rootNamespace, String trustDomain, String clusterId, String domainSuffix) {}
