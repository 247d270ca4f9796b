package dev.skipper.ort;

import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.bundle.BundleManifestReader;
import dev.skipper.runtime.spi.BackendOptions;
import dev.skipper.runtime.spi.HiddenStates;
import dev.skipper.runtime.spi.KvCache;
import dev.skipper.testing.Goldens;
import dev.skipper.testing.TestData;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Runners over the exporter's test data ({@link TestData}: where it is, and when missing data skips
 * or fails) and the decode steps the ORT tests share.
 */
final class TestCases {
    /** Every case with goldens; the smollm2 ones exist only after {@code goldens --real}. */
    static final List<String> GOLDEN_CASES =
            List.of("tiny-bpe-fp32", "tiny-spm-int4", "tiny-bpe-fp32-standard", "smollm2-fp32", "smollm2-int4");

    /** Runners opened by the tests, by case; shared within the test JVM. */
    private static final Map<String, OrtModelRunner> RUNNERS = new HashMap<>();

    private TestCases() {}

    /**
     * A case's directory ({@link TestData#caseDir}).
     *
     * @param name the case
     * @return its directory
     */
    static Path caseDir(String name) {
        return TestData.caseDir(name);
    }

    /**
     * A case's goldens ({@link TestData#goldens}).
     *
     * @param name the case
     * @return them
     */
    static Goldens goldens(String name) {
        return TestData.goldens(name);
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
            r = open(TestData.bundle(name));
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
        return dev.skipper.runtime.spi.ModelRunnerContract.forward(r, hs, kv, tokens, offset, count, allRows);
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
