package io.jmesh.ztunnel.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import java.util.UUID;
import org.junit.jupiter.api.Test;

class EventIdsTest {

    @Test
    void idsAreVersion4UuidsUniqueWithinAProcessAndApartAcrossProcesses() {
        EventIds one = new EventIds();
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < 100_000; i++) {
            String id = one.next();
            UUID u = UUID.fromString(id);
            assertThat(u.version()).isEqualTo(4);
            assertThat(u.variant()).isEqualTo(2);
            assertThat(u.toString()).isEqualTo(id);
            assertThat(seen.add(id)).as("duplicate %s after %d ids", id, i).isTrue();
        }
        String other = new EventIds().next();
        assertThat(UUID.fromString(other).getMostSignificantBits())
                .as("another process draws another prefix")
                .isNotEqualTo(UUID.fromString(one.next()).getMostSignificantBits());
    }

    @Test
    void theCounterWrapsWithinItsBitsWithoutTouchingTheVariant() {
        // a generator whose counter starts two ids before the 62-bit boundary
        Random r = new Random() {
            private int calls;

            @Override
            public long nextLong() {
                return calls++ == 0 ? 0x1234_5678_9abc_def0L : 0x3FFF_FFFF_FFFF_FFFEL;
            }
        };
        EventIds ids = new EventIds(r);
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < 4; i++) {
            UUID u = UUID.fromString(ids.next());
            assertThat(u.variant()).isEqualTo(2);
            assertThat(u.version()).isEqualTo(4);
            assertThat(seen.add(u.toString())).isTrue();
        }
    }
}
