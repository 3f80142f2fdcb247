package io.jmesh.ztunnel.authz;

import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.proto.istio.security.Action;
import io.jmesh.proto.istio.security.Address;
import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.proto.istio.security.Clause;
import io.jmesh.proto.istio.security.Match;
import io.jmesh.proto.istio.security.Rule;
import io.jmesh.proto.istio.security.Scope;
import io.jmesh.proto.istio.security.StringMatch;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;

/** Builders that keep the matcher tables readable. */
final class Policies {

    private Policies() {}

    static StringMatch exact(String v) {
        return StringMatch.newBuilder().setExact(v).build();
    }

    static StringMatch prefix(String v) {
        return StringMatch.newBuilder().setPrefix(v).build();
    }

    static StringMatch suffix(String v) {
        return StringMatch.newBuilder().setSuffix(v).build();
    }

    static StringMatch presence() {
        return StringMatch.newBuilder().setPresence(Empty.getDefaultInstance()).build();
    }

    static Address cidr(String ip, int length) {
        return Address.newBuilder().setAddress(ByteString.copyFrom(ip(ip).getAddress())).setLength(length).build();
    }

    static InetAddress ip(String ip) {
        try {
            return InetAddress.getByName(ip);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(e);
        }
    }

    /** A policy with one rule of one clause of one match. */
    static Authorization policy(String ns, String name, Scope scope, Action action, Match match) {
        return policy(ns, name, scope, action,
                List.of(Rule.newBuilder().addClauses(Clause.newBuilder().addMatches(match)).build()));
    }

    static Authorization policy(String ns, String name, Scope scope, Action action, List<Rule> rules) {
        return Authorization.newBuilder().setNamespace(ns).setName(name).setScope(scope).setAction(action)
                .addAllRules(rules).build();
    }

    /** A connection from {@code identity} (null = plaintext) at 10.0.0.1 to 10.1.0.5:{@code port} in "default". */
    static ConnectionFacts conn(String identity, int port, String... policyKeys) {
        return conn(identity, "10.0.0.1", port, policyKeys);
    }

    static ConnectionFacts conn(String identity, String sourceIp, int port, String... policyKeys) {
        return new ConnectionFacts(identity == null ? null : SpiffeId.parse(identity), ip(sourceIp),
                ip("10.1.0.5"), port, "default", List.of(policyKeys));
    }
}
