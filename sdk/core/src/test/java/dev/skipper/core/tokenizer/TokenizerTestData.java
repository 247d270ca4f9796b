package dev.skipper.core.tokenizer;

import com.google.gson.JsonArray;
import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.bundle.BundleManifestReader;
import dev.skipper.testing.Goldens;
import dev.skipper.testing.TestData;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * Tokenizers over the exporter's test cases ({@link TestData}: where they are, and when missing
 * data skips or fails).
 */
public final class TokenizerTestData {
    /** The cases whose tokenizers the tests check; smollm2-fp32 exists after {@code goldens --real}. */
    static final List<String> CASES = List.of("tiny-bpe-fp32", "tiny-spm-int4", "smollm2-fp32");

    private TokenizerTestData() {
    }

    /**
     * A case's directory ({@link TestData#caseDir}).
     *
     * @param name the case
     * @return its directory
     */
    public static Path caseDir(String name) {
        return TestData.caseDir(name);
    }

    /**
     * Reads a case's manifest (without hashing its files).
     *
     * @param name the case
     * @return the manifest
     * @throws IOException if it cannot be read
     * @throws SkipperException if it is invalid
     */
    static BundleManifest manifest(String name) throws IOException, SkipperException {
        return BundleManifestReader.read(caseDir(name).resolve("bundle"), false);
    }

    /**
     * Opens a case's tokenizer.
     *
     * @param name the case
     * @return the tokenizer; the caller closes it
     * @throws IOException if the manifest cannot be read
     * @throws SkipperException if the bundle or tokenizer is invalid
     */
    static Tokenizer open(String name) throws IOException, SkipperException {
        return Tokenizers.open(manifest(name));
    }

    /**
     * Reads a case's goldens ({@link TestData#goldens}).
     *
     * @param name the case
     * @return them
     */
    static Goldens goldens(String name) {
        return TestData.goldens(name);
    }

    public static int[] ints(JsonArray array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).getAsInt();
        }
        return out;
    }
}
