package io.jmesh.testing.fuzz;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Collects the ByteBuf leaks Netty's leak detector finds (the build runs tests with {@code
 * -Dio.netty.leakDetection.level=paranoid}, where every buffer is tracked). Leaks are only noticed after the
 * leaked buffer is collected, at a later allocation: {@link #leaks()} collects garbage and allocates first.
 */
public final class LeakWatch {

    private static final List<String> LEAKS = new CopyOnWriteArrayList<>();

    static {
        ByteBufUtil.setLeakListener((type, records) -> LEAKS.add(type + ": " + records));
    }

    private LeakWatch() {}

    /** Forgets the leaks seen so far (call before the code under test runs). */
    public static void reset() {
        settle();
        LEAKS.clear();
    }

    /** The leaks reported since the last {@link #reset} or {@link #drain}, and forgets them. */
    public static List<String> drain() {
        settle();
        List<String> seen = List.copyOf(LEAKS);
        LEAKS.removeAll(seen);
        return seen;
    }

    /** The leaks reported since the last {@link #reset}, after giving the detector every chance to report. */
    public static List<String> leaks() {
        settle();
        return List.copyOf(LEAKS);
    }

    private static void settle() {
        for (int round = 0; round < 3; round++) {
            System.gc();
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            for (int i = 0; i < 100; i++) { // each tracked allocation polls the detector's queue
                ByteBuf a = PooledByteBufAllocator.DEFAULT.directBuffer(16);
                a.release();
                ByteBuf b = UnpooledByteBufAllocator.DEFAULT.heapBuffer(16);
                b.release();
            }
        }
    }
}
