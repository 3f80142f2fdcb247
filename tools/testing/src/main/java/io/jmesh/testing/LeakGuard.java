package io.jmesh.testing;

import io.jmesh.testing.fuzz.LeakWatch;
import java.util.List;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Fails a test class after which Netty's leak detector has reported a leaked buffer. Every test runs under the
 * paranoid detector, which only logs what it finds: a leak in a passing test went unnoticed (Vert.x's copy of each
 * GOAWAY's debug data did, until its LEAK lines were read). Registered for every test class of the modules that
 * depend on this one ({@code META-INF/services}, with JUnit's extension autodetection on in the build).
 *
 * <p>The detector reports a buffer only once it is collected, at a later allocation: the leak may come from this
 * class or from one run before it in the same JVM. The message carries the buffer's recorded accesses, which name
 * the code that allocated it.
 */
public final class LeakGuard implements AfterAllCallback {

    @Override
    public void afterAll(ExtensionContext context) {
        if (context.getTestClass().isEmpty() || context.getParent().flatMap(ExtensionContext::getTestClass).isPresent()) {
            return; // a nested class: its enclosing class checks
        }
        List<String> leaks = LeakWatch.drain();
        if (!leaks.isEmpty()) {
            throw new AssertionError(leaks.size() + " ByteBuf leak(s) reported by Netty's leak detector by the end of "
                    + context.getDisplayName() + " (this class or one run before it in this JVM); the first: "
                    + leaks.get(0));
        }
    }
}
