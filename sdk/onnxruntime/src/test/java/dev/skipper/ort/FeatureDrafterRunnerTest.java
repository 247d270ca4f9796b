package dev.skipper.ort;

import dev.skipper.runtime.spi.HiddenStates;
import dev.skipper.runtime.spi.KvCache;
import dev.skipper.testing.TestData;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The feature drafter through the SPI on the ONNX Runtime backend: one position at a time through
 * its cache gives the batched rows (both KV layouts), rollback by length leaves no trace of what
 * was drafted after it, its cache is its own (a model cache is refused), outputs must not alias
 * inputs, and a bundle without one says so.
 */
class FeatureDrafterRunnerTest {
    static final List<String> CASES = List.of("tiny-bpe-fp32", "tiny-spm-int4-int8", "tiny-bpe-fp32-standard");
    private static final int N = 12;

    @ParameterizedTest
    @FieldSource("CASES")
    void incrementalEqualsBatchedAndRollbackLeavesNoTrace(String name) throws Exception {
        try (OrtModelRunner runner = TestCases.open(TestData.bundle(name))) {
            check(name, runner);
        }
    }

    private static void check(String name, OrtModelRunner runner) throws Exception {
        if (!TestData.featureDrafterByTestData(name)) {
            assertFalse(runner.hasFeatureDrafter(), name + ": a feature drafter the test data did not train");
            assertThrows(UnsupportedOperationException.class, () -> runner.newFeatureDrafterCache(16));
            return;
        }
        assertTrue(runner.hasFeatureDrafter(), name + ": the test data trains a feature drafter here");
        int layers = runner.manifest().model().numLayers();
        int n = runner.draftVocabulary().length;
        int[] tokens = new int[N + 1];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = 3 + (i * 37) % 200;
        }
        try (KvCache model = runner.newKvCache(64);
             KvCache drafter = runner.newFeatureDrafterCache(64);
             HiddenStates features = runner.newHiddenStates(N);
             HiddenStates embedded = runner.newHiddenStates(N);
             HiddenStates out = runner.newHiddenStates(N);
             HiddenStates one = runner.newHiddenStates(1)) {
            // The model's last-layer rows of positions 0 .. N-1.
            runner.embed(tokens, 0, N, features);
            for (int l = 0; l < layers; l++) {
                runner.layer(l, features, N, model);
            }
            runner.embed(tokens, 1, N, embedded);
            float[] batched = new float[N * n];
            runner.featureDraft(features, 0, embedded, N, drafter, out, batched);
            assertEquals(N, drafter.length(0));
            float[] batchedRows = rows(out, N);

            drafter.truncate(0);
            float[] step = new float[n];
            for (int i = 0; i < N; i++) {
                runner.embed(tokens, i + 1, 1, embedded);
                runner.featureDraft(features, i, embedded, 1, drafter, one, step);
                assertClose(slice(batched, i * n, n), step, name + " logits of position " + i);
                assertClose(slice(batchedRows, i * rowWidth(runner), rowWidth(runner)), rows(one, 1),
                        name + " feature of position " + i);
            }
            // Draft junk after position 6, roll back, run position 6 again: the batched row comes back.
            drafter.truncate(6);
            runner.embed(new int[] {7, 8, 9}, 0, 3, embedded);
            runner.featureDraft(features, 0, embedded, 3, drafter, out, batched);
            drafter.truncate(6);
            runner.embed(tokens, 7, 1, embedded);
            runner.featureDraft(features, 6, embedded, 1, drafter, one, step);
            assertClose(slice(batchedRows, 6 * rowWidth(runner), rowWidth(runner)), rows(one, 1),
                    name + " after rollback");

            assertThrows(IllegalArgumentException.class,
                    () -> runner.featureDraft(features, 0, embedded, 1, model, one, step), "a model cache");
            assertThrows(IllegalArgumentException.class,
                    () -> runner.featureDraft(features, 0, embedded, 1, drafter, embedded, step), "out aliases embedded");
            assertThrows(IllegalArgumentException.class,
                    () -> runner.featureDraft(features, 0, embedded, 1, drafter, one, new float[n - 1]), "short logits");
            assertThrows(IndexOutOfBoundsException.class,
                    () -> runner.featureDraft(features, N, embedded, 1, drafter, one, step), "feature row past the buffer");
        }
    }

    private static int rowWidth(OrtModelRunner runner) {
        return runner.manifest().model().hiddenSize();
    }

    private static float[] rows(HiddenStates h, int count) {
        return h.read(0, count);
    }

    private static float[] slice(float[] a, int from, int n) {
        return java.util.Arrays.copyOfRange(a, from, from + n);
    }

    private static void assertClose(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what);
        double scale = 1e-6;
        for (float w : want) {
            scale = Math.max(scale, Math.abs(w));
        }
        for (int i = 0; i < want.length; i++) {
            assertTrue(Math.abs(want[i] - got[i]) <= 1e-4 * scale, what + ": [" + i + "] " + want[i] + " vs " + got[i]);
        }
    }
}
