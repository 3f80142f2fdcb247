package io.jmesh.ztunnel.telemetry;

import java.security.SecureRandom;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The {@code event_id}s of connection events: UUIDs (version 4, variant 2 in form) whose first half is drawn once
 * per process at random and whose second half counts. Ids are unique within a process by construction and across
 * processes by the 60 random bits of the prefix; each costs one atomic increment. {@link UUID#randomUUID} took a
 * lock on the JDK's shared {@code SecureRandom} and read the kernel's generator, on the event loop, twice per
 * connection.
 */
final class EventIds {

    private final long prefix;
    private final AtomicLong counter;

    EventIds() {
        this(new SecureRandom());
    }

    EventIds(Random random) {
        this.prefix = (random.nextLong() & ~0xF000L) | 0x4000L; // version 4
        this.counter = new AtomicLong(random.nextLong());
    }

    String next() {
        long low = (counter.getAndIncrement() & 0x3FFF_FFFF_FFFF_FFFFL) | 0x8000_0000_0000_0000L; // variant 2
        return new UUID(prefix, low).toString();
    }
}
