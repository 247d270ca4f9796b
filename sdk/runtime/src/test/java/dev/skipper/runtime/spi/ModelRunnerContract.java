package dev.skipper.runtime.spi;

import dev.skipper.api.SkipperException;
import dev.skipper.runtime.AbstractKvCache;
import dev.skipper.testing.Goldens;
import dev.skipper.testing.TestData;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What every backend's {@link ModelRunner} must do, written once against the SPI: the KV-cache
 * contract (rollback at every position equals a cache that never saw the rolled-back tokens, new
 * rows land at their offset, a full cache is an error that changes nothing, limits named in one
 * line), early exit through the head, K/V-only graphs, exit heads and the trained feature drafter
 * where the bundle has them, and the life cycle (close twice, use after close, a foreign cache refused). A backend's test extends
 * this class and says how to open its runner and on which test cases ({@link TestData}); this module
 * publishes it in its test jar.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class ModelRunnerContract {
    /**
     * Logits and KV rows of equal computations through different paths (batched vs single rows,
     * rollback, offsets) must agree to this tolerance relative to the largest value (at least 1):
     * about the worst-case relative rounding bound of the model's longest float32 dot product,
     * gamma_K = K * 2^-24 = 9.2e-5 for K = 1536 (the FFN), independent of any machine's kernels.
     * Paths that only reorder sums stay far inside it; a wrong row or a stale cache entry does not.
     */
    public static final float TOLERANCE = 1e-4f;

    /** @return the test cases with goldens this backend runs (its bundles' flavours) */
    protected abstract List<String> cases();

    /** @return the smallest float32 case, for the cache and life-cycle checks */
    protected abstract String tinyCase();

    /** @return the cases the feature drafter checks run on ({@link #cases()} unless a backend adds some) */
    protected List<String> featureDrafterCases() {
        return cases();
    }

    /**
     * @param name a case
     * @return a runner over its bundle, shared by the tests of this class (not closed by them)
     * @throws Exception when it cannot be opened
     */
    protected abstract ModelRunner runner(String name) throws Exception;

    /**
     * @param name a case
     * @return a new runner over its bundle; the caller closes it
     * @throws Exception when it cannot be opened
     */
    protected abstract ModelRunner open(String name) throws Exception;

    /**
     * Embed, every layer, head: appends the tokens to the cache.
     *
     * @return logits {@code [count or 1][vocab]}
     */
    public static float[] forward(ModelRunner r, HiddenStates hs, KvCache kv, int[] tokens, int offset, int count,
                                     boolean allRows) throws SkipperException {
        int vocab = r.manifest().model().vocabSize();
        r.embed(tokens, offset, count, hs);
        for (int l = 0; l < r.manifest().model().numLayers(); l++) {
            r.layer(l, hs, count, kv);
        }
        float[] logits = new float[(allRows ? count : 1) * vocab];
        r.head(hs, allRows ? 0 : count - 1, allRows ? count : 1, logits);
        return logits;
    }

    /** Rows of one layer's keys or values, through the shared cache base class. */
    protected static float[] readKv(KvCache kv, int layer, boolean value, int row, int count) {
        return ((AbstractKvCache) kv).read(layer, value, row, count);
    }

    @ParameterizedTest
    @MethodSource("cases")
    void rollbackGivesWhatACacheThatNeverSawTheTokensGives(String name) throws Exception {
        ModelRunner r = runner(name);
        Goldens g = TestData.goldens(name);
        int vocab = g.vocabSize();
        int[] prompt = g.prompts().get(0).ids();
        int[] drafted = {3, 7, vocab - 1, 11};
        int[] next = {g.prompts().get(0).greedy()[0], 5, vocab / 2};
        int p = prompt.length;
        int maxSeq = p + drafted.length + next.length;
        int layers = r.manifest().model().numLayers();
        float worstLogit = 0;
        float worstKv = 0;
        for (int k = 0; k <= drafted.length; k++) {
            int keep = drafted.length - k;
            try (KvCache rolled = r.newKvCache(maxSeq); KvCache fresh = r.newKvCache(maxSeq);
                 HiddenStates hs = r.newHiddenStates(p)) {
                forward(r, hs, rolled, prompt, 0, p, false);
                forward(r, hs, rolled, drafted, 0, drafted.length, true);
                rolled.truncate(p + keep);
                for (int l = 0; l < layers; l++) {
                    assertEquals(p + keep, rolled.length(l));
                }
                float[] a = forward(r, hs, rolled, next, 0, next.length, true);

                forward(r, hs, fresh, prompt, 0, p, false);
                if (keep > 0) {
                    forward(r, hs, fresh, drafted, 0, keep, true);
                }
                float[] b = forward(r, hs, fresh, next, 0, next.length, true);

                worstLogit = Math.max(worstLogit, maxAbsDiff(a, b));
                assertTrue(maxAbsDiff(a, b) <= tolerance(a), name + " k=" + k + ": logits differ by " + maxAbsDiff(a, b));
                int n = p + keep + next.length;
                for (int l = 0; l < layers; l++) {
                    assertEquals(n, rolled.length(l));
                    assertEquals(n, fresh.length(l));
                    for (boolean value : new boolean[] {false, true}) {
                        float[] rx = readKv(rolled, l, value, 0, n);
                        float[] ry = readKv(fresh, l, value, 0, n);
                        worstKv = Math.max(worstKv, maxAbsDiff(rx, ry));
                        assertTrue(maxAbsDiff(rx, ry) <= tolerance(rx),
                                name + " k=" + k + " layer " + l + (value ? " values" : " keys") + " differ by "
                                        + maxAbsDiff(rx, ry));
                    }
                }
            }
        }
        System.out.printf("%s %s: rollback worst |logit diff| %.3g, worst |kv diff| %.3g%n", getClass().getSimpleName(),
                name, worstLogit, worstKv);
    }

    /**
     * K/V-only graphs (lossy adaptive depth): fed each layer's true input, they write exactly the
     * rows the layers themselves write (cache grown by one row, the hidden state untouched).
     */
    @ParameterizedTest
    @MethodSource("cases")
    void kvFillWritesWhatTheLayerWrites(String name) throws Exception {
        ModelRunner r = runner(name);
        if (!r.hasKvFill()) { // run wherever the graphs are; missing: a failure only where calibration made them
            TestData.requireCalibrated(name, false, "kv_fill graphs");
        }
        int[] prompt = TestData.goldens(name).prompts().get(0).ids();
        int n = prompt.length;
        int layers = r.manifest().model().numLayers();
        try (KvCache full = r.newKvCache(n); KvCache filled = r.newKvCache(n); KvCache ran = r.newKvCache(n);
             HiddenStates hs = r.newHiddenStates(n); HiddenStates input = r.newHiddenStates(1)) {
            forward(r, hs, full, prompt, 0, n, false);
            forward(r, hs, filled, prompt, 0, n - 1, false);
            forward(r, hs, ran, prompt, 0, n - 1, false);
            r.embed(prompt, n - 1, 1, hs);
            for (int l = 0; l < layers; l++) {
                r.copyRows(hs, 0, input, 0, 1);
                float[] before = input.read(0, 1);
                r.fillKv(l, input, 1, filled);
                assertEquals(0f, maxAbsDiff(before, input.read(0, 1)), "fillKv must not change the hidden state");
                assertEquals(n, filled.length(l));
                r.layer(l, hs, 1, ran);
            }
            for (int l = 0; l < layers; l++) {
                for (boolean value : new boolean[] {false, true}) {
                    float[] want = readKv(full, l, value, 0, n);
                    float[] got = readKv(filled, l, value, 0, n);
                    assertTrue(maxAbsDiff(want, got) <= tolerance(want), name + " layer " + l
                            + (value ? " values" : " keys") + " differ by " + maxAbsDiff(want, got));
                }
            }
        }
    }

    /** Exit heads: the adapter replaces the rows, the router gives probabilities, the draft head its vocabulary. */
    @ParameterizedTest
    @MethodSource("cases")
    void exitAndDraftHeadsRunOnTheirRows(String name) throws Exception {
        ModelRunner r = runner(name);
        if (!r.hasDraftHeads()) {
            TestData.requireCalibrated(name, false, "draft heads");
        }
        var spec = r.manifest().draftHeads();
        int exit = spec.defaultExit();
        int[] prompt = TestData.goldens(name).prompts().get(0).ids();
        int n = Math.min(prompt.length, 4);
        int[] vocab = r.draftVocabulary();
        assertEquals(spec.vocabSize(), vocab.length);
        try (KvCache kv = r.newKvCache(n); HiddenStates hs = r.newHiddenStates(n)) {
            r.embed(prompt, 0, n, hs);
            for (int l = 0; l < exit; l++) {
                r.layer(l, hs, n, kv);
            }
            float[] before = hs.read(0, n);
            float[] accept = new float[n];
            r.exitHead(exit, hs, n, accept);
            assertTrue(maxAbsDiff(before, hs.read(0, n)) > 0, "the adapter must change the rows");
            for (float p : accept) {
                assertTrue(p >= 0 && p <= 1, "router probability " + p);
            }
            float[] logits = new float[n * vocab.length];
            r.draftHead(hs, n, logits);
            for (float x : logits) {
                assertTrue(Float.isFinite(x));
            }
            assertThrows(IllegalArgumentException.class, () -> r.exitHead(0, hs, 1, accept), "layer 0 is never an exit");
        }
    }

    /**
     * The trained feature drafter through the SPI: one position at a time through its cache gives
     * the batched rows, rollback by length leaves no trace of what was drafted after it, its cache
     * is its own (a model cache is refused), outputs must not alias inputs, and a bundle without
     * one says so.
     */
    @ParameterizedTest
    @MethodSource("featureDrafterCases")
    void featureDrafterIncrementalEqualsBatchedAndRollbackLeavesNoTrace(String name) throws Exception {
        ModelRunner runner = runner(name);
        final int rows = 12;
        if (!TestData.featureDrafterByTestData(name)) {
            assertTrue(!runner.hasFeatureDrafter(), name + ": a feature drafter the test data did not train");
            assertThrows(UnsupportedOperationException.class, () -> runner.newFeatureDrafterCache(16));
            return;
        }
        assertTrue(runner.hasFeatureDrafter(), name + ": the test data trains a feature drafter here");
        int layers = runner.manifest().model().numLayers();
        int hidden = runner.manifest().model().hiddenSize();
        int n = runner.draftVocabulary().length;
        int[] tokens = new int[rows + 1];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = 3 + (i * 37) % 200;
        }
        try (KvCache model = runner.newKvCache(64);
             KvCache drafter = runner.newFeatureDrafterCache(64);
             HiddenStates features = runner.newHiddenStates(rows);
             HiddenStates embedded = runner.newHiddenStates(rows);
             HiddenStates out = runner.newHiddenStates(rows);
             HiddenStates one = runner.newHiddenStates(1)) {
            // The model's last-layer rows of positions 0 .. rows-1.
            runner.embed(tokens, 0, rows, features);
            for (int l = 0; l < layers; l++) {
                runner.layer(l, features, rows, model);
            }
            runner.embed(tokens, 1, rows, embedded);
            float[] batched = new float[rows * n];
            runner.featureDraft(features, 0, embedded, rows, drafter, out, batched);
            assertEquals(rows, drafter.length(0));
            float[] batchedRows = out.read(0, rows);

            drafter.truncate(0);
            float[] step = new float[n];
            for (int i = 0; i < rows; i++) {
                runner.embed(tokens, i + 1, 1, embedded);
                runner.featureDraft(features, i, embedded, 1, drafter, one, step);
                assertClose(Arrays.copyOfRange(batched, i * n, (i + 1) * n), step, name + " logits of position " + i);
                assertClose(Arrays.copyOfRange(batchedRows, i * hidden, (i + 1) * hidden), one.read(0, 1),
                        name + " feature of position " + i);
            }
            // Draft junk after position 6, roll back, run position 6 again: the batched row comes back.
            drafter.truncate(6);
            runner.embed(new int[] {7, 8, 9}, 0, 3, embedded);
            runner.featureDraft(features, 0, embedded, 3, drafter, out, batched);
            drafter.truncate(6);
            runner.embed(tokens, 7, 1, embedded);
            runner.featureDraft(features, 6, embedded, 1, drafter, one, step);
            assertClose(Arrays.copyOfRange(batchedRows, 6 * hidden, 7 * hidden), one.read(0, 1), name + " after rollback");

            assertThrows(IllegalArgumentException.class,
                    () -> runner.featureDraft(features, 0, embedded, 1, model, one, step), "a model cache");
            assertThrows(IllegalArgumentException.class,
                    () -> runner.featureDraft(features, 0, embedded, 1, drafter, embedded, step), "out aliases embedded");
            assertThrows(IllegalArgumentException.class,
                    () -> runner.featureDraft(features, 0, embedded, 1, drafter, one, new float[n - 1]), "short logits");
            assertThrows(IndexOutOfBoundsException.class,
                    () -> runner.featureDraft(features, rows, embedded, 1, drafter, one, step), "feature row past the buffer");
        }
    }

    private static void assertClose(float[] want, float[] got, String what) {
        assertTrue(maxAbsDiff(want, got) <= tolerance(want), what + " differs by " + maxAbsDiff(want, got));
    }

    @ParameterizedTest
    @MethodSource("cases")
    void headRunsOnTheHiddenStateAfterLayerOne(String name) throws Exception {
        ModelRunner r = runner(name);
        int[] prompt = TestData.goldens(name).prompts().get(0).ids();
        int n = prompt.length;
        int vocab = r.manifest().model().vocabSize();
        try (KvCache kv = r.newKvCache(n); HiddenStates hs = r.newHiddenStates(n)) {
            r.embed(prompt, 0, n, hs);
            r.layer(0, hs, n, kv);
            r.layer(1, hs, n, kv);
            float[] all = new float[n * vocab];
            r.head(hs, 0, n, all);
            for (float x : all) {
                assertTrue(Float.isFinite(x), name + ": non-finite early-exit logit");
            }
            float[] last = new float[vocab];
            r.head(hs, n - 1, 1, last);
            float[] lastOfAll = Arrays.copyOfRange(all, (n - 1) * vocab, n * vocab);
            assertTrue(maxAbsDiff(last, lastOfAll) <= tolerance(last), "head of one row at an offset");
            assertEquals(n, kv.length(1));
            if (r.manifest().model().numLayers() > 2) {
                assertEquals(0, kv.length(2), "layers that did not run keep their length");
            }
        }
    }

    @Test
    void emptyPastWorksAndNewRowsLandInTheCacheAtTheirOffset() throws Exception {
        ModelRunner r = runner(tinyCase());
        int width = r.manifest().model().numKvHeads() * r.manifest().model().headDim();
        int[] tokens = {5, 6, 7, 8};
        try (KvCache kv = r.newKvCache(8); HiddenStates hs = r.newHiddenStates(4)) {
            r.embed(tokens, 0, 3, hs);
            float[] embedded = hs.read(0, 3);
            r.layer(0, hs, 3, kv); // an empty past
            assertEquals(3, kv.length(0));
            assertNotEquals(0, sumAbs(hs.read(0, 3)), "hidden_out written");
            assertNotEquals(sumAbs(embedded), sumAbs(hs.read(0, 3)), "layer changed the hidden state");
            // rows 0..2 written; the bundle's scratch rows after them may be (the repeated last token of
            // the batch-invariant layers); nothing after those
            int untouched = 3 + r.manifest().kvCache().scratchRows();
            float[] rows = readKv(kv, 0, false, 0, untouched + 1);
            for (int row = 0; row < 3; row++) {
                assertNotEquals(0, sumAbs(Arrays.copyOfRange(rows, row * width, (row + 1) * width)));
            }
            assertEquals(0, sumAbs(Arrays.copyOfRange(rows, untouched * width, (untouched + 1) * width)),
                    "row " + untouched + " untouched");
            float[] before = readKv(kv, 0, true, 0, 3);
            r.embed(tokens, 3, 1, hs);
            r.layer(0, hs, 1, kv); // written at row 3
            assertEquals(4, kv.length(0));
            assertNotEquals(0, sumAbs(readKv(kv, 0, true, 3, 1)));
            assertEquals(0, maxAbsDiff(before, readKv(kv, 0, true, 0, 3)), "earlier rows unchanged");
            assertEquals(0, kv.length(1));
        }
    }

    @Test
    void maxSeqAboveMaxPositionIsRefusedNamingBothNumbers() throws Exception {
        ModelRunner r = runner(tinyCase());
        int maxPosition = r.manifest().model().maxPosition();
        SkipperException e = assertThrows(SkipperException.class, () -> r.newKvCache(maxPosition + 1));
        assertTrue(e.getMessage().contains(Integer.toString(maxPosition + 1)), e.getMessage());
        assertTrue(e.getMessage().contains(Integer.toString(maxPosition)), e.getMessage());
        assertThrows(SkipperException.class, () -> r.newKvCache(0));
        SkipperException huge = assertThrows(SkipperException.class, () -> r.newHiddenStates(Integer.MAX_VALUE / 2));
        assertTrue(!huge.getMessage().contains("\n"), huge.getMessage());
    }

    @Test
    void aFullCacheIsAnErrorAndChangesNothing() throws Exception {
        ModelRunner r = runner(tinyCase());
        try (KvCache kv = r.newKvCache(4); HiddenStates hs = r.newHiddenStates(4)) {
            forward(r, hs, kv, new int[] {1, 2, 3}, 0, 3, false);
            r.embed(new int[] {4, 5}, 0, 2, hs);
            SkipperException e = assertThrows(SkipperException.class, () -> r.layer(0, hs, 2, kv));
            assertTrue(e.getMessage().contains("4"), e.getMessage());
            assertEquals(3, kv.length(0));
            kv.truncate(2);
            r.layer(0, hs, 2, kv);
            assertEquals(4, kv.length(0));
            assertEquals(2, kv.length(1));
        }
    }

    @Test
    void closingTwiceIsFineAndUseAfterCloseThrows() throws Exception {
        ModelRunner r = open(tinyCase());
        ModelRunner other = open(tinyCase());
        KvCache kv = r.newKvCache(8);
        HiddenStates hs = r.newHiddenStates(2);
        float[] logits = forward(r, hs, kv, new int[] {1, 2}, 0, 2, false);
        assertTrue(Float.isFinite(logits[0]));
        try (KvCache foreign = other.newKvCache(8)) {
            r.embed(new int[] {1}, 0, 1, hs);
            assertThrows(IllegalArgumentException.class, () -> r.layer(0, hs, 1, foreign));
        }
        other.close();

        kv.close();
        kv.close();
        assertThrows(IllegalStateException.class, () -> kv.length(0));
        assertThrows(IllegalStateException.class, () -> kv.truncate(0));
        assertThrows(IllegalStateException.class, () -> r.layer(0, hs, 1, kv));

        hs.close();
        hs.close();
        assertThrows(IllegalStateException.class, () -> hs.read(0, 1));
        assertThrows(IllegalStateException.class, () -> r.embed(new int[] {1}, 0, 1, hs));

        HiddenStates live = r.newHiddenStates(1);
        r.close();
        r.close();
        assertThrows(IllegalStateException.class, () -> r.newKvCache(8));
        assertThrows(IllegalStateException.class, () -> r.newHiddenStates(1));
        assertThrows(IllegalStateException.class, () -> r.embed(new int[] {1}, 0, 1, live));
        assertThrows(IllegalStateException.class, () -> r.head(live, 0, 1, new float[r.manifest().model().vocabSize()]));
        live.close();
    }

    /** The largest |x| of a reference (at least 1) times {@link #TOLERANCE}. */
    public static float tolerance(float[] reference) {
        float scale = 1;
        for (float x : reference) {
            scale = Math.max(scale, Math.abs(x));
        }
        return TOLERANCE * scale;
    }

    /** The largest element-wise |a - b|. */
    public static float maxAbsDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        float worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - b[i]));
        }
        return worst;
    }

    /** Sum of |x|. */
    public static double sumAbs(float[] a) {
        double s = 0;
        for (float x : a) {
            s += Math.abs(x);
        }
        return s;
    }
}
