package io.jmesh.policy.translate;

import io.jmesh.proto.istio.security.ServiceAccountMatch;

/**
 * An {@code AuthorizationPolicy} source's {@code serviceAccounts} / {@code notServiceAccounts} value (Istio 1.24+):
 * {@code <namespace>/<name>}, or {@code <name>} for the policy's own namespace. Istio's rules
 * ({@code security.CheckServiceAccount}): at most {@value #MAX_VALUES} values, each non-empty, without {@code *}
 * (no wildcard of any form), at most one {@code /} with both sides non-empty, at most {@value #MAX_LENGTH}
 * characters. The same rules hold for the values of a {@code when} on {@code source.serviceAccount}.
 */
public final class ServiceAccountRefs {

    public static final int MAX_VALUES = 16;
    public static final int MAX_LENGTH = 320;
    public static final String FORM = " (expected: <serviceAccount> or <namespace>/<serviceAccount>)";

    private ServiceAccountRefs() {}

    /** Why {@code value} is no service account reference, in Istio's order of checks; null when it is one. */
    public static String problem(String value) {
        if (value.isEmpty()) {
            return "must not be empty" + FORM;
        }
        if (value.contains("*")) {
            return "'" + value + "': wildcards are not allowed" + FORM;
        }
        int slash = value.indexOf('/');
        if (slash >= 0 && value.indexOf('/', slash + 1) >= 0) {
            return "'" + value + "' has more than one '/'" + FORM;
        }
        if (value.length() > MAX_LENGTH) {
            return value.length() + " characters long (expected: at most " + MAX_LENGTH + ")";
        }
        if (slash == 0) {
            return "'" + value + "' has an empty namespace" + FORM;
        }
        if (slash == value.length() - 1) {
            return "'" + value + "' has an empty service account" + FORM;
        }
        return null;
    }

    /**
     * The match istiod sends ztunnel: split at the {@code /}, else the policy's namespace. A value validation would
     * refuse (one that reached the log otherwise) is refused here too, so its policy is skipped, never enforced
     * with a literal {@code *} that would make a {@code notServiceAccounts} exclude nobody.
     */
    public static ServiceAccountMatch match(String value, String policyNamespace) {
        String problem = problem(value);
        if (problem != null) {
            throw new IllegalArgumentException("service account " + problem);
        }
        int slash = value.indexOf('/');
        return slash < 0
                ? ServiceAccountMatch.newBuilder().setNamespace(policyNamespace).setServiceAccount(value).build()
                : ServiceAccountMatch.newBuilder().setNamespace(value.substring(0, slash))
                        .setServiceAccount(value.substring(slash + 1)).build();
    }
}
