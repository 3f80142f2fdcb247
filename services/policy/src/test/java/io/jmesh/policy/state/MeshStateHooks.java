package io.jmesh.policy.state;

/** Lets tests outside this package reach {@link MeshState}'s package-private test hooks. */
public final class MeshStateHooks {

    private MeshStateHooks() {}

    /** Runs {@code hook} on the thread that builds {@code state}'s {@code network/IP} index, as it starts. */
    public static void onIpIndexBuild(MeshState state, Runnable hook) {
        state.onIpIndexBuild(hook);
    }
}
