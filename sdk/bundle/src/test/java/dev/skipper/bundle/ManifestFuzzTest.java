package dev.skipper.bundle;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.skipper.api.BundleFormatException;
import dev.skipper.testing.FixtureBundle;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Fuzzes {@link BundleManifestReader}: any manifest.yaml bytes, read in a bundle whose other files
 * are the fixture's (so that mutations of a valid manifest get past the file checks). The contract:
 * a manifest, or a {@link BundleFormatException} (one line: file, line, key); an {@link IOException}
 * only for a file the manifest names that cannot be read. Anything else (a RuntimeException, a stack
 * overflow, an OutOfMemoryError) is a finding.
 *
 * <p>{@code ./skipper test} replays the seeds in {@code ManifestFuzzTestInputs/} (the fixture
 * manifest and earlier findings); {@code ./skipper fuzz --target java-manifest} fuzzes.
 */
class ManifestFuzzTest {
    private static final Path BUNDLE = fixture();

    private static Path fixture() {
        return FixtureBundle.copyTo(dev.skipper.testing.TempDirs.forThisJvm("skipper-manifest-fuzz").resolve("bundle"));
    }

    @FuzzTest(maxDuration = "30s")
    void readerAcceptsOrRefusesInOneLine(byte[] manifest) throws IOException {
        Files.write(BUNDLE.resolve(BundleManifest.MANIFEST_FILE), manifest);
        try {
            BundleManifestReader.read(BUNDLE, false);
        } catch (BundleFormatException e) {
            Checks.oneLine(e.getMessage());
        }
    }
}
