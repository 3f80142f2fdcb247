package io.jmesh.testing.fuzz;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.function.BiFunction;

/**
 * A mutation fuzzer for the parsers of untrusted input (tests tagged {@code fuzz}: `make fuzz` runs them with fresh
 * seeds; `make test` replays each one's first 2,000 inputs from one fixed seed, set in the build). It starts from valid inputs, applies random mutations (bit flips, boundary values in bytes and
 * 16/32-bit fields, insertions, deletions, duplications, truncation, splices of two inputs, pure noise, and where
 * the target gives one, a mutation that knows the input's structure: {@link #mutator}) and hands
 * each result to a target. The target decides what is a bug: it must accept or reject every input the way its
 * contract says (the documented exception, a clear status), and throws anything else.
 *
 * <p>Bounded: {@code -Dfuzz.seconds} (default 20) per target and at most {@code -Dfuzz.iterations} inputs. The
 * seed is printed and can be replayed with {@code -Dfuzz.seed}; a failing input is written to
 * {@code target/fuzz-failures/<name>-<seed>.bin} and its hex is in the failure message.
 */
public final class Fuzzer {

    /** One input under test; throws only for a bug. */
    @FunctionalInterface
    public interface Target {
        void accept(byte[] input) throws Exception;
    }

    private final String name;
    private final List<byte[]> seeds = new ArrayList<>();
    private final long seed;
    private final long deadlineNanos;
    private final long maxIterations;
    private final int maxLength;
    private long iterations;
    private BiFunction<byte[], Random, byte[]> structured;

    private Fuzzer(String name, int maxLength) {
        this.name = name;
        this.maxLength = maxLength;
        this.seed = Long.getLong("fuzz.seed", System.nanoTime());
        this.deadlineNanos = System.nanoTime() + Long.getLong("fuzz.seconds", 20) * 1_000_000_000L;
        this.maxIterations = Long.getLong("fuzz.iterations", Long.MAX_VALUE);
    }

    /** A fuzzer whose mutated inputs stay under {@code maxLength} bytes. */
    public static Fuzzer named(String name, int maxLength) {
        return new Fuzzer(name, maxLength);
    }

    /**
     * A mutation that knows the input's structure (e.g. {@link ProtoMutator}), used for half of the mutations, the
     * byte-level ones for the rest: it draws from the fuzzer's random numbers, so a seed replays it too.
     */
    public Fuzzer mutator(BiFunction<byte[], Random, byte[]> structured) {
        this.structured = structured;
        return this;
    }

    /** Valid inputs to start from (at least one). */
    public Fuzzer seeds(byte[]... valid) {
        seeds.addAll(Arrays.asList(valid));
        return this;
    }

    /**
     * Runs {@code target} on {@code input} and fails when it takes longer than {@code limit} twice in a row. For the
     * coverage-guided runs (Jazzer), whose instrumentation, hooks and collections can stretch any one run: a slow
     * input is slow both times.
     */
    public static void withinTwice(java.time.Duration limit, Target target, byte[] input) throws Exception {
        for (int run = 1; ; run++) {
            long start = System.nanoTime();
            target.accept(input);
            long took = System.nanoTime() - start;
            if (took <= limit.toNanos()) {
                return;
            }
            if (run == 2) {
                throw new AssertionError("one input took " + took / 1_000_000 + " ms, twice over "
                        + limit.toMillis() + " ms (input: " + HexFormat.of().formatHex(input) + ")");
            }
        }
    }

    /** Inputs tried by the last {@link #run}. */
    public long iterations() {
        return iterations;
    }

    /** Runs the target until the time or iteration bound; the seeds themselves first, unmutated. */
    public Fuzzer run(Target target) {
        if (seeds.isEmpty()) {
            throw new IllegalStateException(name + ": no seed inputs");
        }
        Random random = new Random(seed);
        System.out.println("fuzz " + name + ": seed " + seed + " (replay with -Dfuzz.seed=" + seed + ")");
        iterations = 0;
        for (byte[] s : seeds) {
            check(target, s.clone());
        }
        while (iterations < maxIterations && System.nanoTime() < deadlineNanos) {
            byte[] input = seeds.get(random.nextInt(seeds.size())).clone();
            int rounds = 1 + random.nextInt(4);
            for (int i = 0; i < rounds; i++) {
                input = mutate(input, random);
            }
            check(target, input);
        }
        System.out.println("fuzz " + name + ": " + iterations + " inputs, no failure");
        return this;
    }

    private void check(Fuzzer.Target target, byte[] input) {
        iterations++;
        try {
            target.accept(input);
        } catch (Throwable t) {
            Path out = Path.of(System.getProperty("jmesh.build.dir", "target"), "fuzz-failures",
                    name + "-" + seed + ".bin");
            try {
                Files.createDirectories(out.getParent());
                Files.write(out, input);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            throw new AssertionError("fuzz " + name + ": input #" + iterations + " (seed " + seed + ", saved to "
                    + out + ") failed: " + t + "\ninput: " + HexFormat.of().formatHex(input), t);
        }
    }

    private byte[] mutate(byte[] in, Random r) {
        if (structured != null && r.nextBoolean()) {
            byte[] out = structured.apply(in, r);
            return out.length > maxLength ? Arrays.copyOf(out, maxLength) : out;
        }
        byte[] out = switch (r.nextInt(10)) {
            case 0 -> flipBit(in, r);
            case 1 -> interestingByte(in, r);
            case 2 -> interestingShort(in, r);
            case 3 -> interestingInt(in, r);
            case 4 -> insert(in, r);
            case 5 -> delete(in, r);
            case 6 -> duplicate(in, r);
            case 7 -> Arrays.copyOf(in, in.length == 0 ? 0 : r.nextInt(in.length));
            case 8 -> splice(in, seeds.get(r.nextInt(seeds.size())), r);
            default -> randomBytes(in, r);
        };
        return out.length > maxLength ? Arrays.copyOf(out, maxLength) : out;
    }

    private static byte[] flipBit(byte[] in, Random r) {
        if (in.length > 0) {
            int i = r.nextInt(in.length);
            in[i] ^= (byte) (1 << r.nextInt(8));
        }
        return in;
    }

    private static final int[] BYTES = {0, 1, 0x7F, 0x80, 0xFF, 0x3F, 0x40, 0xC0};
    private static final int[] SHORTS = {0, 1, 0x7FFF, 0x8000, 0xFFFF, 0xFFFE, 0x0100, 0x00FF};
    private static final int[] INTS = {0, 1, Integer.MAX_VALUE, Integer.MIN_VALUE, -1, 0x10000, 0xFFFF};

    private static byte[] interestingByte(byte[] in, Random r) {
        if (in.length > 0) {
            in[r.nextInt(in.length)] = (byte) BYTES[r.nextInt(BYTES.length)];
        }
        return in;
    }

    private static byte[] interestingShort(byte[] in, Random r) {
        if (in.length >= 2) {
            int i = r.nextInt(in.length - 1);
            int v = SHORTS[r.nextInt(SHORTS.length)];
            in[i] = (byte) (v >> 8);
            in[i + 1] = (byte) v;
        }
        return in;
    }

    private static byte[] interestingInt(byte[] in, Random r) {
        if (in.length >= 4) {
            int i = r.nextInt(in.length - 3);
            int v = INTS[r.nextInt(INTS.length)];
            for (int k = 0; k < 4; k++) {
                in[i + k] = (byte) (v >> (24 - 8 * k));
            }
        }
        return in;
    }

    private static byte[] insert(byte[] in, Random r) {
        int at = r.nextInt(in.length + 1);
        byte[] extra = new byte[1 + r.nextInt(16)];
        r.nextBytes(extra);
        byte[] out = new byte[in.length + extra.length];
        System.arraycopy(in, 0, out, 0, at);
        System.arraycopy(extra, 0, out, at, extra.length);
        System.arraycopy(in, at, out, at + extra.length, in.length - at);
        return out;
    }

    private static byte[] delete(byte[] in, Random r) {
        if (in.length == 0) {
            return in;
        }
        int at = r.nextInt(in.length);
        int n = 1 + r.nextInt(Math.min(16, in.length - at));
        byte[] out = new byte[in.length - n];
        System.arraycopy(in, 0, out, 0, at);
        System.arraycopy(in, at + n, out, at, in.length - at - n);
        return out;
    }

    private static byte[] duplicate(byte[] in, Random r) {
        if (in.length == 0) {
            return in;
        }
        int at = r.nextInt(in.length);
        int n = 1 + r.nextInt(Math.min(64, in.length - at));
        byte[] out = new byte[in.length + n];
        System.arraycopy(in, 0, out, 0, at + n);
        System.arraycopy(in, at, out, at + n, in.length - at);
        return out;
    }

    private static byte[] splice(byte[] a, byte[] b, Random r) {
        int cutA = r.nextInt(a.length + 1);
        int cutB = r.nextInt(b.length + 1);
        byte[] out = new byte[cutA + b.length - cutB];
        System.arraycopy(a, 0, out, 0, cutA);
        System.arraycopy(b, cutB, out, cutA, b.length - cutB);
        return out;
    }

    private static byte[] randomBytes(byte[] in, Random r) {
        if (r.nextInt(4) == 0) {
            byte[] out = new byte[r.nextInt(64)];
            r.nextBytes(out);
            return out;
        }
        if (in.length > 0) {
            int at = r.nextInt(in.length);
            int n = Math.min(in.length - at, 1 + r.nextInt(8));
            for (int i = 0; i < n; i++) {
                in[at + i] = (byte) r.nextInt(256);
            }
        }
        return in;
    }
}
