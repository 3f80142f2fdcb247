package io.jmesh.core.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BearerTokenFileTest {

    @TempDir
    Path dir;

    @Test
    void eachCallReadsTheTokenTheFileHoldsNowWithoutItsNewline() throws Exception {
        Path file = Files.writeString(dir.resolve("token"), "first\n");
        Supplier<String> token = BearerTokenFile.of(file.toString());
        assertThat(token.get()).isEqualTo("first");

        // the kubelet swaps a projected token in place
        Files.writeString(file, "second\n");
        assertThat(token.get()).isEqualTo("second");
    }

    @Test
    void noFileMeansNoToken() {
        assertThat(BearerTokenFile.of("").get()).isEmpty();
        assertThat(BearerTokenFile.of(null).get()).isEmpty();
    }

    @Test
    void aMissingFileFailsTheCallNamingTheFile() {
        Supplier<String> token = BearerTokenFile.of(dir.resolve("gone").toString());
        assertThatThrownBy(token::get).isInstanceOf(UncheckedIOException.class)
                .hasMessageContaining("cannot read the token file").hasMessageContaining("gone");
    }
}
