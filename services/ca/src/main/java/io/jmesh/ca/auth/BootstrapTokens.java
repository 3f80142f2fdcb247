package io.jmesh.ca.auth;

import io.jmesh.ca.root.StateDirectory;
import io.jmesh.core.identity.SpiffeId;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Local-mode bootstrap tokens, kept in {@code tokens.json} of the state directory. Only a SHA-256 hash of each
 * secret is stored; the secret is shown once, when the token is created.
 *
 * <p>A token reads {@code jmesh.<id>.<secret>}: {@code id} (16 hex digits) is public and names the token in logs,
 * lists and revocations; {@code secret} is 256 random bits, base64url. Review looks the id up in an immutable
 * snapshot and compares hashes in constant time.
 *
 * <p>Writers (the CLI, {@code CaAdmin}) change the file under the state-directory lock; every replica picks the
 * change up with {@link #reloadIfChanged()}. Thread-safe; file operations block.
 */
public final class BootstrapTokens implements TokenReviewer {

    /** Metadata of one token (never the secret). */
    public record TokenInfo(String id, String node, String service, String hash, Instant createdAt,
            Instant expiresAt, Instant revokedAt, String createdBy, String description) {

        public boolean activeAt(Instant now) {
            return revokedAt == null && (expiresAt == null || now.isBefore(expiresAt));
        }

        JsonObject toJson() {
            JsonObject o = new JsonObject().put("id", id).put("hash", hash)
                    .put("createdAt", createdAt.toString()).put("createdBy", createdBy)
                    .put("description", description);
            if (node != null) {
                o.put("node", node);
            }
            if (service != null) {
                o.put("service", service);
            }
            if (expiresAt != null) {
                o.put("expiresAt", expiresAt.toString());
            }
            if (revokedAt != null) {
                o.put("revokedAt", revokedAt.toString());
            }
            return o;
        }

        static TokenInfo fromJson(JsonObject o) {
            return new TokenInfo(o.getString("id"), o.getString("node"), o.getString("service"),
                    o.getString("hash"), Instant.parse(o.getString("createdAt")), instant(o.getString("expiresAt")),
                    instant(o.getString("revokedAt")), o.getString("createdBy", ""),
                    o.getString("description", ""));
        }

        private static Instant instant(String s) {
            return s == null ? null : Instant.parse(s);
        }
    }

    /** A token just created: the secret (shown once) and its metadata. */
    public record Created(String token, TokenInfo info) {}

    private static final String PREFIX = "jmesh.";
    private static final Pattern NAME = Pattern.compile("[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?");
    private static final SecureRandom RANDOM = new SecureRandom();

    private final StateDirectory dir;
    private final String trustDomain;
    private final Clock clock;
    private volatile Map<String, TokenInfo> byId = Map.of();
    private volatile String stamp = "";

    public BootstrapTokens(StateDirectory dir, String trustDomain, Clock clock) {
        this.dir = Objects.requireNonNull(dir, "dir");
        this.trustDomain = trustDomain;
        this.clock = clock;
        reloadIfChanged();
    }

    /** Re-reads {@code tokens.json} when it changed on disk; returns whether it did. Blocking. */
    public boolean reloadIfChanged() {
        String now = dir.stamp(StateDirectory.TOKENS);
        if (now.equals(stamp)) {
            return false;
        }
        Map<String, TokenInfo> loaded = index(read());
        byId = loaded;
        stamp = now;
        return true;
    }

    /** Every token, active or not, sorted by creation. */
    public List<TokenInfo> list() {
        List<TokenInfo> out = new ArrayList<>(byId.values());
        out.sort((a, b) -> a.createdAt().compareTo(b.createdAt()));
        return out;
    }

    /**
     * Creates a token for a node's ztunnel.
     *
     * @param ttl lifetime, or null / zero for a token that never expires
     */
    public Created createForNode(String node, Duration ttl, String createdBy, String description) {
        return create(checkName("node", node), null, ttl, createdBy, description, false);
    }

    /** Creates a token for a control-plane service ({@code policy}, {@code admin}, ...). */
    public Created createForService(String service, Duration ttl, String createdBy, String description) {
        return create(null, checkName("service", service), ttl, createdBy, description, false);
    }

    /**
     * Revokes every active token of {@code node} and creates a new one, in one change of the file: the node's
     * ztunnel must switch to the new token.
     */
    public Created rotateForNode(String node, Duration ttl, String createdBy, String description) {
        return create(checkName("node", node), null, ttl, createdBy, description, true);
    }

    /**
     * Revokes one token.
     *
     * @throws IllegalArgumentException when no token has that id
     */
    public TokenInfo revoke(String tokenId) {
        return dir.locked(() -> {
            List<TokenInfo> all = read();
            Instant now = clock.instant();
            TokenInfo revoked = null;
            for (int i = 0; i < all.size(); i++) {
                TokenInfo t = all.get(i);
                if (t.id().equals(tokenId)) {
                    revoked = t.revokedAt() != null ? t : withRevoked(t, now);
                    all.set(i, revoked);
                }
            }
            if (revoked == null) {
                throw new IllegalArgumentException("token_id: '" + tokenId + "' (expected: the id of an existing"
                        + " token, see 'token list')");
            }
            write(all);
            return revoked;
        });
    }

    @Override
    public Review review(String token) {
        if (token == null || token.isEmpty()) {
            return Review.refused("missing bearer token");
        }
        if (!token.startsWith(PREFIX)) {
            return Review.refused("unknown token (not a jmesh bootstrap token)");
        }
        int dot = token.indexOf('.', PREFIX.length());
        if (dot < 0) {
            return Review.refused("unknown token (malformed)");
        }
        String id = token.substring(PREFIX.length(), dot);
        TokenInfo info = byId.get(id);
        if (info == null || !MessageDigest.isEqual(hash(token.substring(dot + 1)).getBytes(StandardCharsets.US_ASCII),
                info.hash().getBytes(StandardCharsets.US_ASCII))) {
            return Review.refused("unknown token");
        }
        Instant now = clock.instant();
        if (info.revokedAt() != null) {
            return Review.refused("token " + id + " revoked at " + info.revokedAt());
        }
        if (info.expiresAt() != null && !now.isBefore(info.expiresAt())) {
            return Review.refused("token " + id + " expired at " + info.expiresAt());
        }
        SpiffeId identity = info.node() != null ? Caller.nodeIdentity(trustDomain)
                : Caller.serviceIdentity(trustDomain, info.service());
        return Review.ok(new Caller(info.node(), info.service(), identity, id, info.expiresAt()));
    }

    private Created create(String node, String service, Duration ttl, String createdBy, String description,
            boolean revokeOthers) {
        byte[] secretBytes = new byte[32];
        RANDOM.nextBytes(secretBytes);
        String secret = Base64.getUrlEncoder().withoutPadding().encodeToString(secretBytes);
        byte[] idBytes = new byte[8];
        RANDOM.nextBytes(idBytes);
        String id = HexFormat.of().formatHex(idBytes);
        return dir.locked(() -> {
            List<TokenInfo> all = read();
            Instant now = clock.instant();
            if (revokeOthers) {
                for (int i = 0; i < all.size(); i++) {
                    TokenInfo t = all.get(i);
                    if (node.equals(t.node()) && t.revokedAt() == null) {
                        all.set(i, withRevoked(t, now));
                    }
                }
            }
            Instant expires = ttl == null || ttl.isZero() ? null : now.plus(ttl);
            TokenInfo info = new TokenInfo(id, node, service, hash(secret), now, expires, null,
                    createdBy == null ? "" : createdBy, description == null ? "" : description);
            all.add(info);
            write(all);
            return new Created(PREFIX + id + "." + secret, info);
        });
    }

    private static TokenInfo withRevoked(TokenInfo t, Instant now) {
        return new TokenInfo(t.id(), t.node(), t.service(), t.hash(), t.createdAt(), t.expiresAt(), now,
                t.createdBy(), t.description());
    }

    private List<TokenInfo> read() {
        String text = dir.readString(StateDirectory.TOKENS);
        List<TokenInfo> out = new ArrayList<>();
        if (text == null || text.isBlank()) {
            return out;
        }
        try {
            JsonArray arr = new JsonObject(text).getJsonArray("tokens", new JsonArray());
            for (int i = 0; i < arr.size(); i++) {
                out.add(TokenInfo.fromJson(arr.getJsonObject(i)));
            }
        } catch (RuntimeException e) {
            throw new IllegalStateException(dir.resolve(StateDirectory.TOKENS) + ": unreadable: " + e.getMessage(), e);
        }
        return out;
    }

    private void write(List<TokenInfo> all) {
        JsonArray arr = new JsonArray();
        all.forEach(t -> arr.add(t.toJson()));
        dir.writeString(StateDirectory.TOKENS, new JsonObject().put("tokens", arr).encodePrettily() + "\n");
        byId = index(all);
        stamp = dir.stamp(StateDirectory.TOKENS);
    }

    private static Map<String, TokenInfo> index(List<TokenInfo> all) {
        Map<String, TokenInfo> m = new HashMap<>();
        all.forEach(t -> m.put(t.id(), t));
        return Map.copyOf(m);
    }

    private static String checkName(String what, String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException(what + ": '" + name
                    + "' (expected: lowercase letters, digits, '-' and '.', e.g. node-a)");
        }
        return name;
    }

    static String hash(String secret) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(secret.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
