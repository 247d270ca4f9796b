package dev.skipper.core.sampling;

import dev.skipper.api.SamplingOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SamplerTest {

    /** Logits whose softmax at temperature 1 is exactly {@code probs}. */
    private static float[] logitsOf(double... probs) {
        float[] l = new float[probs.length];
        for (int i = 0; i < probs.length; i++) {
            l[i] = (float) Math.log(probs[i]);
        }
        return l;
    }

    private static SamplingOptions opts(double temperature, int topK, double topP, double minP, double penalty) {
        return new SamplingOptions(false, temperature, topK, topP, minP, penalty, 0L);
    }

    private static float[] processed(Sampler s, float[] logits, SamplingOptions o, RecentTokens recent) {
        float[] out = new float[logits.length];
        s.probabilities(logits, 0, o, recent, out, 0);
        return out;
    }

    private static int nonZero(float[] p) {
        int n = 0;
        for (float x : p) {
            if (x > 0) {
                n++;
            }
        }
        return n;
    }

    private static RecentTokens recent(int... ids) {
        RecentTokens r = new RecentTokens(1024, 64);
        for (int id : ids) {
            r.add(id);
        }
        return r;
    }

    @Test
    void greedyPicksTheArgmaxAndTheLowestIdOnTies() {
        Sampler s = new Sampler(6);
        assertEquals(4, s.next(new float[] {0.1f, -2f, 3f, 2.9f, 3.5f, 1f}, 0, SamplingOptions.GREEDY, null));
        assertEquals(1, s.next(new float[] {0f, 5f, 2f, 5f, 5f, -1f}, 0, SamplingOptions.GREEDY, null));
        // A row of a batch: offset selects it.
        float[] batch = {9f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 7f, 0f, 0f, 0f};
        assertEquals(2, s.next(batch, 6, SamplingOptions.GREEDY, null));
        // Greedy needs no begin(): it consumes no random numbers.
        float[] p = processed(s, new float[] {0f, 5f, 2f, 5f, 5f, -1f}, SamplingOptions.GREEDY, null);
        assertArrayEquals(new float[] {0f, 1f, 0f, 0f, 0f, 0f}, p);
    }

    @Test
    void greedyRejectsNaN() {
        Sampler s = new Sampler(3);
        assertThrows(IllegalArgumentException.class,
                () -> s.next(new float[] {0f, Float.NaN, 1f}, 0, SamplingOptions.GREEDY, null));
    }

    @Test
    void topKKeepsExactlyKEvenWithTiesAtTheBoundary() {
        Sampler s = new Sampler(8);
        float[] logits = {1f, 3f, 3f, 3f, 0.5f, 2f, 3f, -1f};
        for (int k = 1; k <= 7; k++) {
            float[] p = processed(s, logits, opts(1.0, k, 1.0, 0.0, 1.0), null);
            assertEquals(k, nonZero(p), "k=" + k);
        }
        // k = 2 among four tied 3s: the two lowest ids.
        float[] p = processed(s, logits, opts(1.0, 2, 1.0, 0.0, 1.0), null);
        assertTrue(p[1] > 0 && p[2] > 0 && p[3] == 0 && p[6] == 0);
        assertEquals(0.5f, p[1], 1e-7f);
        // top_k >= vocab means off.
        assertEquals(8, nonZero(processed(s, logits, opts(1.0, 8, 1.0, 0.0, 1.0), null)));
        assertEquals(8, nonZero(processed(s, logits, opts(1.0, 100, 1.0, 0.0, 1.0), null)));
    }

    @Test
    void topPKeepsTheSmallestNucleus() {
        Sampler s = new Sampler(5);
        float[] logits = logitsOf(0.05, 0.5, 0.1, 0.2, 0.15); // sorted: 1 (.5), 3 (.2), 4 (.15), 2 (.1), 0
        assertEquals(1, nonZero(processed(s, logits, opts(1.0, 0, 0.45, 0.0, 1.0), null)));
        assertEquals(2, nonZero(processed(s, logits, opts(1.0, 0, 0.6, 0.0, 1.0), null)));
        float[] p = processed(s, logits, opts(1.0, 0, 0.8, 0.0, 1.0), null); // .5+.2 < .8 <= .85
        assertEquals(3, nonZero(p));
        assertEquals(0.5 / 0.85, p[1], 1e-6);
        assertEquals(0.2 / 0.85, p[3], 1e-6);
        assertEquals(0.15 / 0.85, p[4], 1e-6);
        assertEquals(4, nonZero(processed(s, logits, opts(1.0, 0, 0.9, 0.0, 1.0), null)));
        // After top-k = 2 the mass is renormalised over {.5, .2}: top-p 0.7 of that needs only token 1.
        assertEquals(1, nonZero(processed(s, logits, opts(1.0, 2, 0.7, 0.0, 1.0), null)));
        assertEquals(2, nonZero(processed(s, logits, opts(1.0, 2, 0.75, 0.0, 1.0), null)));
    }

    @Test
    void minPDropsTokensBelowAFractionOfTheMostLikely() {
        Sampler s = new Sampler(5);
        float[] logits = logitsOf(0.5, 0.2, 0.15, 0.1, 0.05);
        float[] p = processed(s, logits, opts(1.0, 0, 1.0, 0.25, 1.0), null); // keep p >= 0.125
        assertEquals(3, nonZero(p));
        assertEquals(0.5 / 0.85, p[0], 1e-6);
        assertEquals(5, nonZero(processed(s, logits, opts(1.0, 0, 1.0, 0.05, 1.0), null)));
        assertEquals(1, nonZero(processed(s, logits, opts(1.0, 0, 1.0, 0.5, 1.0), null)));
    }

    @Test
    void repetitionPenaltyAppliesOncePerDistinctToken() {
        Sampler s = new Sampler(4);
        float[] logits = {2f, 1.5f, -1f, 0f};
        // Token 0 repeated: its logit is divided by 2 once (2 -> 1), not once per repetition.
        assertEquals(1, s.next(logits, 0, new SamplingOptions(true, 1, 0, 1, 0, 2.0, 0), recent(0, 0, 0)));
        float[] p = processed(s, logits, opts(1.0, 0, 1.0, 0.0, 2.0), recent(0, 0, 0, 2));
        double[] expected = ReferenceSampling.distribution(new float[] {1f, 1.5f, -2f, 0f}, opts(1.0, 0, 1.0, 0.0, 1.0));
        for (int i = 0; i < 4; i++) {
            assertEquals(expected[i], p[i], 1e-6, "token " + i);
        }
        // The caller's logits are left unchanged.
        assertArrayEquals(new float[] {2f, 1.5f, -1f, 0f}, logits);
        // Only the window counts: token 0 has scrolled out of a window of 2.
        RecentTokens window = new RecentTokens(16, 2);
        window.addAll(new int[] {0, 3, 3}, 0, 3);
        assertEquals(0, s.next(logits, 0, new SamplingOptions(true, 1, 0, 1, 0, 2.0, 0), window));
        assertThrows(IllegalArgumentException.class,
                () -> s.next(logits, 0, new SamplingOptions(true, 1, 0, 1, 0, 2.0, 0), recent(7)));
    }

    @Test
    void processedDistributionMatchesTheReferenceAndSumsToOne() {
        Random rnd = new Random(42);
        int vocab = 1000;
        Sampler s = new Sampler(vocab);
        float[] out = new float[vocab + 10];
        for (int trial = 0; trial < 300; trial++) {
            float[] logits = new float[vocab];
            for (int i = 0; i < vocab; i++) {
                // Coarse values so that ties occur, plus a few masked tokens.
                logits[i] = rnd.nextInt(20) == 0 ? Float.NEGATIVE_INFINITY : (float) Math.round(rnd.nextGaussian() * 30) / 10f;
            }
            SamplingOptions o = new SamplingOptions(rnd.nextInt(10) == 0, 0.2 + rnd.nextDouble() * 2,
                    rnd.nextBoolean() ? 0 : 1 + rnd.nextInt(vocab + 50), rnd.nextBoolean() ? 1.0 : 0.05 + rnd.nextDouble() * 0.95,
                    rnd.nextBoolean() ? 0.0 : rnd.nextDouble() * 0.5, rnd.nextBoolean() ? 1.0 : 1 + rnd.nextDouble(), 0L);
            int[] history = new int[rnd.nextInt(40)];
            for (int i = 0; i < history.length; i++) {
                history[i] = rnd.nextInt(vocab);
            }
            RecentTokens r = new RecentTokens(64, 64);
            r.addAll(history, 0, history.length);
            s.probabilities(logits, 0, o, r, out, 7);
            double[] expected = ReferenceSampling.distribution(logits, o, history);
            double sum = 0;
            for (int i = 0; i < vocab; i++) {
                int t = trial;
                int token = i;
                assertEquals(expected[i], out[7 + i], 2e-6, () -> "trial " + t + " token " + token + " " + o);
                sum += out[7 + i];
            }
            assertEquals(1.0, sum, 1e-5, "trial " + trial);
        }
    }

    @Test
    void fullVocabularyTopPMatchesTheReference() {
        int vocab = 49152; // SmolLM2's vocabulary: exercises the heap path at full size
        Random rnd = new Random(7);
        float[] logits = new float[vocab];
        for (int i = 0; i < vocab; i++) {
            logits[i] = (float) (rnd.nextGaussian() * 3);
        }
        SamplingOptions o = opts(0.7, 0, 0.9, 0.01, 1.1);
        Sampler s = new Sampler(vocab);
        float[] out = processed(s, logits, o, recent(5, 17, 40000));
        double[] expected = ReferenceSampling.distribution(logits, o, 5, 17, 40000);
        for (int i = 0; i < vocab; i++) {
            assertEquals(expected[i], out[i], 1e-6);
        }
    }

    @Test
    void floatBufferRowsGiveTheSameResultsAsArrays() {
        float[] logits = {0.3f, 1.2f, -0.4f, 2.2f, 0.9f, 9f, 9f, 9f};
        FloatBuffer buffer = ByteBuffer.allocateDirect(logits.length * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
        buffer.put(logits).flip();
        Sampler s = new Sampler(5);
        SamplingOptions o = opts(0.9, 4, 0.95, 0.0, 1.0);
        float[] a = new float[5];
        float[] b = new float[5];
        s.probabilities(logits, 0, o, null, a, 0);
        s.probabilities(buffer, 0, o, null, b, 0);
        assertArrayEquals(a, b);
        assertEquals(0, buffer.position());
        assertEquals(3, s.next(buffer, 0, SamplingOptions.GREEDY, null));
        assertEquals(2, s.next(buffer, 3, SamplingOptions.GREEDY, null)); // row [3, 8): 2.2, .9, 9, 9, 9
    }

    @Test
    void samplingFrequenciesFollowTheProcessedDistribution() {
        float[] logits = {1.0f, 2.5f, 0.2f, 2.0f, -1.0f, 1.7f, 0.9f, 2.4f, -3f, 0.0f};
        // No filters (unsorted path), top-p only (heap path), top-k + top-p + min-p + penalty.
        chiSquare(logits, opts(1.0, 0, 1.0, 0.0, 1.0), 11L);
        chiSquare(logits, opts(0.8, 0, 0.9, 0.0, 1.0), 12L);
        chiSquare(logits, opts(1.3, 7, 0.97, 0.05, 1.4), 13L);
    }

    private static void chiSquare(float[] logits, SamplingOptions o, long seed) {
        int draws = 20_000;
        int[] history = {1, 3};
        RecentTokens r = recent(history);
        Sampler s = new Sampler(logits.length);
        s.begin(seed);
        int[] counts = new int[logits.length];
        for (int i = 0; i < draws; i++) {
            counts[s.next(logits, 0, o, r)]++;
        }
        double[] p = ReferenceSampling.distribution(logits, o, history);
        double statistic = 0;
        int categories = 0;
        for (int i = 0; i < logits.length; i++) {
            if (p[i] == 0) {
                assertEquals(0, counts[i], "token " + i + " is filtered out but was drawn");
                continue;
            }
            double expected = p[i] * draws;
            assertTrue(expected >= 5, "chi-square needs expected counts >= 5; got " + expected);
            statistic += (counts[i] - expected) * (counts[i] - expected) / expected;
            categories++;
        }
        int dof = categories - 1;
        assertTrue(dof >= 2, "test needs at least 3 categories");
        assertTrue(statistic < CHI_SQUARE_CRITICAL_P001[dof],
                "chi-square " + statistic + " >= critical " + CHI_SQUARE_CRITICAL_P001[dof] + " (dof " + dof + ") for " + o);
    }

    /** Upper 0.001 quantiles of the chi-square distribution, by degrees of freedom (index 0 unused). */
    private static final double[] CHI_SQUARE_CRITICAL_P001 = {
        Double.NaN, 10.828, 13.816, 16.266, 18.467, 20.515, 22.458, 24.322, 26.124, 27.877, 29.588,
    };

    @Test
    void sameSeedSameTokensAndBeginRestartsTheSequence() {
        Random rnd = new Random(3);
        float[] logits = new float[500];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) rnd.nextGaussian();
        }
        SamplingOptions o = opts(1.0, 50, 0.9, 0.0, 1.0);
        Sampler a = new Sampler(500);
        Sampler b = new Sampler(500);
        a.begin(1234);
        b.begin(1234);
        int[] first = new int[200];
        for (int i = 0; i < first.length; i++) {
            first[i] = a.next(logits, 0, o, null);
            assertEquals(first[i], b.next(logits, 0, o, null));
        }
        a.begin(1234);
        int[] again = new int[200];
        for (int i = 0; i < again.length; i++) {
            again[i] = a.next(logits, 0, o, null);
        }
        assertArrayEquals(first, again);
        a.begin(99);
        int[] other = new int[200];
        for (int i = 0; i < other.length; i++) {
            other[i] = a.next(logits, 0, o, null);
        }
        assertNotEquals(Arrays.toString(first), Arrays.toString(other));
    }

    @Test
    void samplingBeforeBeginFails() {
        Sampler s = new Sampler(3);
        assertThrows(IllegalStateException.class, () -> s.next(new float[] {1, 2, 3}, 0, opts(1, 0, 1, 0, 1), null));
    }

    @Test
    void sampleDrawsFromExplicitWeights() {
        Sampler s = new Sampler(4);
        s.begin(5);
        float[] weights = {0f, 3f, 1f, 0f}; // unnormalised, like max(0, p - q)
        int[] counts = new int[4];
        for (int i = 0; i < 20_000; i++) {
            counts[s.sample(weights, 0)]++;
        }
        assertEquals(0, counts[0] + counts[3]);
        double stat = Math.pow(counts[1] - 15_000, 2) / 15_000 + Math.pow(counts[2] - 5_000, 2) / 5_000;
        assertTrue(stat < CHI_SQUARE_CRITICAL_P001[1], "chi-square " + stat);
        assertThrows(IllegalArgumentException.class, () -> s.sample(new float[4], 0));
    }

    @Test
    void samplingRejectsBrokenLogits() {
        Sampler s = new Sampler(3);
        s.begin(1);
        SamplingOptions o = opts(1, 0, 1, 0, 1);
        assertThrows(IllegalArgumentException.class, () -> s.next(new float[] {1, Float.NaN, 3}, 0, o, null));
        assertThrows(IllegalArgumentException.class, () -> s.next(new float[] {1, Float.POSITIVE_INFINITY, 3}, 0, o, null));
        float inf = Float.NEGATIVE_INFINITY;
        assertThrows(IllegalArgumentException.class, () -> s.next(new float[] {inf, inf, inf}, 0, o, null));
        // Masked tokens are never drawn.
        for (int i = 0; i < 100; i++) {
            assertEquals(1, s.next(new float[] {inf, 0f, inf}, 0, o, null));
        }
    }
}
