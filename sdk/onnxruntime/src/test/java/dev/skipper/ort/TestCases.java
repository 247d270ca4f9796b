package dev.skipper.ort;

import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.bundle.BundleManifestReader;
import dev.skipper.runtime.spi.BackendOptions;
import dev.skipper.runtime.spi.HiddenStates;
import dev.skipper.runtime.spi.KvCache;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Assumptions;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The exporter's test data ({@code -Dskipper.testData=DIR}, cases {@code DIR/<case>/bundle} and
 * {@code DIR/<case>/goldens.json}) and the decode steps the tests share.
 *
 * <p>Missing data skips the test, unless {@code -Dskipper.requireTestData=true}: then it fails.
 */
final class TestCases {
    /** Every case with goldens; the smollm2 ones exist only after {@code goldens --real}. */
    static final List<String> GOLDEN_CASES =
            List.of("tiny-bpe-fp32", "tiny-spm-int4", "tiny-bpe-fp32-standard", "smollm2-fp32", "smollm2-int4");

    /** Runners opened by the tests, by case; shared within the test JVM. */
    private static final Map<String, OrtModelRunner> RUNNERS = new HashMap<>();

    private TestCases() {}

    /** One prompt of a goldens file. */
    record Prompt(String text, int[] ids, int[] greedy) {}

    /** A case's reference outputs. */
    /**
     * A case's goldens; {@code nearTies} are the teacher-forced positions whose float64 top-2 margin
     * is within the float32 tie bound (exporters/skipper_export/verify/yardstick.py), where a
     * correct float32 runtime may pick the runner-up.
     */
    record Goldens(int vocabSize, List<Prompt> prompts, int[] teacherIds, int[] teacherArgmax, Set<Integer> nearTies) {}

    /**
     * The test data directory.
     *
     * @return it
     */
    static Path root() {
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
     * A case's directory.
     *
     * @param name the case
     * @return its directory
     */
    static Path caseDir(String name) {
        skipRealWhenOff(name);
        Path dir = root().resolve(name);
        if (!Files.isDirectory(dir.resolve("bundle"))) {
            missing("test case " + dir + " is missing (generate it with skipper_export goldens)");
        }
        return dir;
    }

    /**
     * Whether {@code skipper_export goldens} calibrates a case (exit heads, draft vocabulary,
     * routers, kv_fill graphs): every case but the standard-flavour and fp32 SmolLM2 ones.
     *
     * @param name the case
     * @return true when its bundle must hold the calibration artefacts
     */
    static boolean calibratedByTestData(String name) {
        return !(name.contains("standard") || name.equals("smollm2-fp32"));
    }

    /**
     * Fails when a case the test data calibrates lacks an artefact; skips (reported as skipped)
     * the cases it does not calibrate.
     *
     * @param name the case
     * @param present whether the runner has the artefact
     * @param what the artefact, for the message
     */
    static void requireCalibrated(String name, boolean present, String what) {
        if (calibratedByTestData(name)) {
            if (!present) {
                fail(name + ": the test data calibrates this case, but it has no " + what);
            }
        } else {
            Assumptions.abort(name + ": not calibrated by the test data, so no " + what);
        }
    }

    /**
     * A case's bundle directory for cases written without goldens ({@code <case>/bundle}).
     *
     * @param name the case
     * @return the bundle directory
     */
    static Path bundleOnly(String name) {
        Path bundle = root().resolve(name).resolve("bundle");
        if (!Files.isDirectory(bundle)) {
            missing("test case " + bundle + " is missing (generate it with skipper_export goldens)");
        }
        return bundle;
    }

    /** SmolLM2 cases are skipped when {@code ./skipper test} ran with SKIPPER_TEST_REAL=0 (-Dskipper.testReal=false). */
    private static void skipRealWhenOff(String name) {
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
     * Opens (once) a runner over a case's bundle through the service loader's provider.
     *
     * @param name the case
     * @return the shared runner; do not close it
     * @throws SkipperException if the bundle cannot be loaded
     * @throws IOException if it cannot be read
     */
    static synchronized OrtModelRunner runner(String name) throws SkipperException, IOException {
        OrtModelRunner r = RUNNERS.get(name);
        if (r == null) {
            r = open(caseDir(name).resolve("bundle"));
            RUNNERS.put(name, r);
        }
        return r;
    }

    /**
     * Opens a new runner over a bundle.
     *
     * @param bundle the bundle directory
     * @return the runner; the caller closes it
     * @throws SkipperException if the bundle cannot be loaded
     * @throws IOException if it cannot be read
     */
    static OrtModelRunner open(Path bundle) throws SkipperException, IOException {
        BundleManifest manifest = BundleManifestReader.read(bundle, true);
        return (OrtModelRunner) new OrtBackendProvider().open(manifest.directory(), manifest, BackendOptions.DEFAULTS);
    }

    /**
     * Reads a case's goldens.
     *
     * @param name the case
     * @return them
     */
    @SuppressWarnings("unchecked")
    static Goldens goldens(String name) {
        Path file = caseDir(name).resolve("goldens.json");
        Map<String, Object> json;
        try {
            json = (Map<String, Object>) Json.parse(Files.readString(file, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + file, e);
        }
        List<Prompt> prompts = ((List<Object>) json.get("prompts")).stream()
                .map(p -> (Map<String, Object>) p)
                .map(p -> new Prompt((String) p.get("text"), ints(p.get("ids")), ints(p.get("greedy"))))
                .toList();
        Map<String, Object> tf = (Map<String, Object>) json.get("teacher_forced");
        return new Goldens(((Long) json.get("vocab_size")).intValue(), prompts, ints(tf.get("ids")),
                ints(tf.get("argmax")), Arrays.stream(ints(tf.get("near_ties"))).boxed().collect(Collectors.toUnmodifiableSet()));
    }

    @SuppressWarnings("unchecked")
    private static int[] ints(Object list) {
        return ((List<Object>) list).stream().mapToInt(o -> ((Long) o).intValue()).toArray();
    }

    /**
     * Whether a case computes float32 arithmetic on the source's exact values, where top-1 must
     * equal the float64 reference's at every position but the near-ties (else parity is statistical).
     *
     * @param runner its runner
     * @return true for exact arithmetic
     */
    static boolean exactArithmetic(OrtModelRunner runner) {
        return runner.manifest().weights().exactArithmetic();
    }

    /**
     * Runs tokens through embed, every layer and the head: appends them to the cache.
     *
     * @param r the runner
     * @param hs working buffer, at least {@code count} rows
     * @param kv the cache
     * @param tokens ids
     * @param offset first id
     * @param count ids
     * @param allRows logits of every row (else only of the last)
     * @return logits {@code [count or 1][vocab]}
     * @throws SkipperException on a runtime failure
     */
    static float[] forward(OrtModelRunner r, HiddenStates hs, KvCache kv, int[] tokens, int offset, int count,
                           boolean allRows) throws SkipperException {
        int vocab = r.manifest().model().vocabSize();
        r.embed(tokens, offset, count, hs);
        for (int l = 0; l < r.manifest().model().numLayers(); l++) {
            r.layer(l, hs, count, kv);
        }
        float[] logits = new float[(allRows ? count : 1) * vocab];
        if (allRows) {
            r.head(hs, 0, count, logits);
        } else {
            r.head(hs, count - 1, 1, logits);
        }
        return logits;
    }

    /**
     * Greedy decoding with the primitives: the prompt in one call, then one token per call.
     *
     * @param r the runner
     * @param prompt prompt ids
     * @param n new tokens
     * @return the n tokens
     * @throws SkipperException on a runtime failure
     */
    static int[] greedy(OrtModelRunner r, int[] prompt, int n) throws SkipperException {
        int maxSeq = Math.min(r.manifest().model().maxPosition(), prompt.length + n);
        try (KvCache kv = r.newKvCache(maxSeq); HiddenStates hs = r.newHiddenStates(prompt.length)) {
            int[] out = new int[n];
            float[] logits = forward(r, hs, kv, prompt, 0, prompt.length, false);
            int[] one = new int[1];
            for (int i = 0; i < n; i++) {
                out[i] = argmax(logits, 0, logits.length);
                if (i + 1 < n) {
                    one[0] = out[i];
                    logits = forward(r, hs, kv, one, 0, 1, false);
                }
            }
            return out;
        }
    }

    /**
     * Index of the first maximum, as numpy's argmax.
     *
     * @param a values
     * @param from first index
     * @param to end index (exclusive)
     * @return the index relative to {@code from}
     */
    static int argmax(float[] a, int from, int to) {
        int best = from;
        for (int i = from + 1; i < to; i++) {
            if (a[i] > a[best]) {
                best = i;
            }
        }
        return best - from;
    }
}
