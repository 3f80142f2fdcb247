package io.jmesh.policy.auth;

/**
 * Who is calling, as the token review established it.
 *
 * @param node the node the token was minted for (empty for service tokens)
 * @param identity the caller's SPIFFE id
 */
public record Caller(String node, String identity) {}
