package dev.skipper.core.tokenizer;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.bundle.BundleManifestReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The exporter's test data ({@code -Dskipper.testData=DIR}; cases {@code DIR/<case>/bundle} and
 * {@code DIR/<case>/goldens.json}, written by {@code python -m skipper_export goldens}).
 *
 * <p>Missing data skips the test, unless {@code -Dskipper.requireTestData=true}: then it fails.
 * The engine tests of {@code dev.skipper.core} locate their cases with {@link #caseDir}.
 */
public final class TokenizerTestData {
    /** The cases whose tokenizers the tests check; smollm2-fp32 exists after {@code goldens --real}. */
    static final List<String> CASES = List.of("tiny-bpe-fp32", "tiny-spm-int4", "smollm2-fp32");

    private TokenizerTestData() {
    }

    /** A text and the ids the exporter's tokenizer gave it. */
    record Encoded(String text, int[] ids) {
    }

    /**
     * A case's goldens.
     *
     * @param tokenizer edge-case texts (empty, accents, CJK, emoji, whitespace, code, ChatML)
     * @param prompts chat prompts with their ids and the reference model's greedy continuation
     * @param greedy for each prompt, the reference model's greedy tokens
     * @param teacherIds a long real text's ids
     */
    record Goldens(List<Encoded> tokenizer, List<Encoded> prompts, List<int[]> greedy, int[] teacherIds) {
    }

    /**
     * The test data directory, or a skip (a failure when the data is required).
     *
     * @return it
     */
    public static Path root() {
        String dir = System.getProperty("skipper.testData");
        if (dir == null || dir.isBlank()) {
            missing("-Dskipper.testData is not set");
        }
        Path root = Path.of(dir);
        if (!Files.isDirectory(root)) {
            missing("test data directory " + root + " does not exist");
        }
        return root;
    }

    /**
     * A case's directory, or a skip (a failure when the data is required).
     *
     * @param name the case
     * @return its directory
     */
    public static Path caseDir(String name) {
        return caseDir(name, true);
    }

    /**
     * A test case's directory, when only its bundle is needed (cases written without goldens).
     *
     * @param name the case
     * @return its directory
     */
    public static Path bundleCaseDir(String name) {
        return caseDir(name, false);
    }

    private static Path caseDir(String name, boolean goldens) {
        skipRealWhenOff(name);
        Path dir = root().resolve(name);
        if (!Files.isDirectory(dir.resolve("bundle")) || (goldens && !Files.isRegularFile(dir.resolve("goldens.json")))) {
            missing("test case " + dir + " is missing (generate it with: python -m skipper_export goldens"
                    + (name.startsWith("smollm2") ? " --real" : "") + ")");
        }
        return dir;
    }

    /**
     * {@code ./skipper test} with {@code SKIPPER_TEST_REAL=0} generates no SmolLM2 cases and says so
     * with {@code -Dskipper.testReal=false}: their tests are skipped (reported as skipped), while a
     * SmolLM2 case missing from a run that should have it fails under requireTestData.
     *
     * @param name the case
     */
    public static void skipRealWhenOff(String name) {
        if (name.startsWith("smollm2") && "false".equals(System.getProperty("skipper.testReal"))) {
            Assumptions.abort(name + ": SmolLM2 cases are off (SKIPPER_TEST_REAL=0)");
        }
    }

    private static void missing(String why) {
        if (Boolean.getBoolean("skipper.requireTestData")) {
            fail(why + " and -Dskipper.requireTestData=true");
        }
        Assumptions.abort(why);
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
     * Reads a case's goldens.
     *
     * @param name the case
     * @return them
     * @throws IOException if they cannot be read
     */
    static Goldens goldens(String name) throws IOException {
        JsonObject json = JsonParser.parseString(
                Files.readString(caseDir(name).resolve("goldens.json"), StandardCharsets.UTF_8)).getAsJsonObject();
        List<int[]> greedy = new ArrayList<>();
        for (JsonElement p : json.getAsJsonArray("prompts")) {
            greedy.add(ints(p.getAsJsonObject().getAsJsonArray("greedy")));
        }
        return new Goldens(encoded(json.getAsJsonArray("tokenizer")), encoded(json.getAsJsonArray("prompts")), greedy,
                ints(json.getAsJsonObject("teacher_forced").getAsJsonArray("ids")));
    }

    private static List<Encoded> encoded(JsonArray array) {
        List<Encoded> out = new ArrayList<>();
        for (JsonElement e : array) {
            JsonObject o = e.getAsJsonObject();
            out.add(new Encoded(o.get("text").getAsString(), ints(o.getAsJsonArray("ids"))));
        }
        return out;
    }

    public static int[] ints(JsonArray array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).getAsInt();
        }
        return out;
    }
}
