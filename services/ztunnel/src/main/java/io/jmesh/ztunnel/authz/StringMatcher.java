package io.jmesh.ztunnel.authz;

import io.jmesh.proto.istio.security.StringMatch;

/**
 * One compiled {@link StringMatch}: exact, prefix, suffix or presence (any non-empty value). A null value (the
 * peer has no identity) never matches.
 */
record StringMatcher(Kind kind, String value) {

    enum Kind { EXACT, PREFIX, SUFFIX, PRESENCE }

    static StringMatcher compile(StringMatch m, String path) {
        return switch (m.getMatchTypeCase()) {
            case EXACT -> new StringMatcher(Kind.EXACT, m.getExact());
            case PREFIX -> new StringMatcher(Kind.PREFIX, m.getPrefix());
            case SUFFIX -> new StringMatcher(Kind.SUFFIX, m.getSuffix());
            case PRESENCE -> new StringMatcher(Kind.PRESENCE, "");
            case MATCHTYPE_NOT_SET -> throw new IllegalArgumentException(path + ": no match type set"
                    + " (expected: exact, prefix, suffix or presence)");
        };
    }

    boolean matches(String candidate) {
        if (candidate == null) {
            return false;
        }
        return switch (kind) {
            case EXACT -> candidate.equals(value);
            case PREFIX -> candidate.startsWith(value);
            case SUFFIX -> candidate.endsWith(value);
            case PRESENCE -> !candidate.isEmpty();
        };
    }

    static boolean any(StringMatcher[] matchers, String candidate) {
        for (StringMatcher m : matchers) {
            if (m.matches(candidate)) {
                return true;
            }
        }
        return false;
    }
}
