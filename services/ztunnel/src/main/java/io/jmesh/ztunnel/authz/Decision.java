package io.jmesh.ztunnel.authz;

/**
 * The outcome of an authorization check.
 *
 * @param allowed whether the connection may proceed
 * @param policy the {@code namespace/name} of the policy that decided, or empty when no policy applied
 * @param reason a short lowercase explanation for the access log ("denied by deny policy", "no allow policy
 *     matched", "allowed by default: no allow policies")
 */
public record Decision(boolean allowed, String policy, String reason) {

    public static final Decision ALLOW_ALL = new Decision(true, "", "allowed by default: no policies");

    public static Decision allow(String policy, String reason) {
        return new Decision(true, policy, reason);
    }

    public static Decision deny(String policy, String reason) {
        return new Decision(false, policy, reason);
    }
}
