package io.jmesh.ca.placement;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/** No placement information: every impersonation is refused, nodes obtain only their own identity. */
public final class NoPlacement implements PlacementSource {

    @Override
    public Placement current() {
        return Placement.EMPTY;
    }

    @Override
    public CompletionStage<?> ready() {
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public String describe() {
        return "none (placement.source: none)";
    }
}
