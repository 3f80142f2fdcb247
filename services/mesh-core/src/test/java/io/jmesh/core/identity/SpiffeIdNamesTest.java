package io.jmesh.core.identity;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The hand-written name checks accept exactly what the regular expressions they replaced accepted. */
class SpiffeIdNamesTest {

    private static final String ALPHABET = "az09.-_A/ é\\u0000";

    @Test
    void agreeWithTheRegularExpressionsOnRandomNames() {
        check(255, "._-", Pattern.compile("[a-z0-9]([a-z0-9._-]{0,253}[a-z0-9])?"));
        check(63, "-", Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"));
        check(253, "-.", Pattern.compile("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?"));
    }

    private static void check(int max, String inner, Pattern regex) {
        Random random = new Random(max);
        int accepted = 0;
        for (int i = 0; i < 20_000; i++) {
            // mostly short names, and some around the length limit
            boolean nearLimit = i % 10 == 0;
            int length = nearLimit ? max - 2 + random.nextInt(5) : random.nextInt(6);
            // long names from valid characters only, so that both sides of the limit are seen
            String alphabet = nearLimit ? "az09" + inner : ALPHABET;
            StringBuilder name = new StringBuilder();
            for (int c = 0; c < length; c++) {
                name.append(alphabet.charAt(random.nextInt(alphabet.length())));
            }
            String s = name.toString();
            assertThat(SpiffeId.isName(s, max, inner)).as("'%s' (%d chars)", s, s.length())
                    .isEqualTo(regex.matcher(s).matches());
            accepted += regex.matcher(s).matches() ? 1 : 0;
        }
        assertThat(accepted).as("valid names among the samples").isBetween(2_000, 18_000);
    }
}
