package io.jmesh.ztunnel.discovery;

import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.ztunnel.authz.AuthorizationStore;
import java.util.Collection;

/** Feeds one policy stream to the evaluating store and to the copy kept for {@code /config_dump}. */
public record TeePolicies(AuthorizationStore primary, AuthorizationStore copy) implements AuthorizationStore {

    @Override
    public void apply(Collection<Authorization> upserts, Collection<String> removedNames) {
        primary.apply(upserts, removedNames);
        copy.apply(upserts, removedNames);
    }

    @Override
    public void replaceAll(Collection<Authorization> all) {
        primary.replaceAll(all);
        copy.replaceAll(all);
    }

    @Override
    public void onChange(Runnable listener) {
        primary.onChange(listener);
    }
}
