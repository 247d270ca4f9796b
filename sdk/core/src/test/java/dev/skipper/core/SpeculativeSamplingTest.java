package dev.skipper.core;

import dev.skipper.api.SamplingOptions;
import dev.skipper.api.SpeculationMode;
import dev.skipper.core.config.SpeculationConfig;
import dev.skipper.core.sampling.Sampler;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Exact speculative sampling: at a fixed context (prompt, then a pending token x), the token a
 * speculative round produces right after x follows the full model's own next-token distribution p
 * (temperature and top-k applied), whatever the drafts were. Checked with a chi-square test over
 * thousands of rounds on a tiny model, for sampled drafts (layer skip: q from the draft layers; exit
 * head and the trained feature drafter: q over the draft vocabulary only, zero elsewhere) and a fixed
 * draft (prompt lookup: q one-hot). The same counts against a wrong expectation (p at
 * another temperature) must fail, so the test has power.
 */
class SpeculativeSamplingTest {
    private static final int TRIALS = 6000;
    private static final SamplingOptions SAMPLING = new SamplingOptions(false, 1.0, 12, 1.0, 0.0, 1.0, 0);
    private static final SamplingOptions HOTTER = new SamplingOptions(false, 1.6, 12, 1.0, 0.0, 1.0, 0);

    @ParameterizedTest
    @EnumSource(value = SpeculationMode.class, names = {"LAYER_SKIP", "NGRAM", "EXIT_HEAD", "FEATURE"})
    void theTokensOfARoundFollowTheModelsDistribution(SpeculationMode mode) throws Exception {
        roundsFollowTheModelsDistribution(mode, null, false);
    }

    /** Corpus lookup (a fixed draft from the bundle's corpus, q one-hot): the same test. */
    @org.junit.jupiter.api.Test
    void corpusLookupDraftsKeepTheModelsDistribution() throws Exception {
        roundsFollowTheModelsDistribution(SpeculationMode.AUTO, null, true);
    }

    /**
     * The feature drafter choosing its own draft lengths from a calibration (here one that accepts
     * exactly the drafts of confidence 0.15 or more, so rounds draft 0 to 4 tokens by the drafter's
     * own probabilities; an empty round is a plain step): which drafts a round keeps depends only on
     * the drafter's probabilities, so the round's tokens still follow p. The rounds must have
     * drafted different lengths, or the rule was not exercised.
     */
    @org.junit.jupiter.api.Test
    void selfLimitingFeatureDraftsKeepTheModelsDistribution() throws Exception {
        roundsFollowTheModelsDistribution(SpeculationMode.FEATURE, SelfLimitingDraftingTest.ratingFrom(0.15), false);
    }

    private static void roundsFollowTheModelsDistribution(SpeculationMode mode,
                                                          dev.skipper.core.speculation.AcceptanceByConfidence rating,
                                                          boolean corpus)
            throws Exception {
        DefaultEngine engine = EngineTestData.engine("tiny-bpe-fp32");
        var runner = engine.runner();
        int layers = runner.manifest().model().numLayers();
        int vocab = runner.manifest().model().vocabSize();
        // A prompt whose last 3-gram occurred before, so prompt lookup drafts [c, 6, 7, 8]; c is
        // chosen likely under p, so that lookup drafts get accepted and the round's later tokens
        // are tested too.
        int[] prompt = {11, 5, 6, 7, 8, 9, 5, 6, 7, 8};
        int x = 9;
        SpeculationConfig config = new SpeculationConfig(mode, null, 4, 0.0, List.of(layers - 1), 3, true).fixed();
        try (Sequence seq = new Sequence(runner, 64, 16)) {
            seq.needFeatures(); // as a request whose strategy drafts with the feature drafter
            float[] probe = new float[vocab];
            Sampler probeSampler = new Sampler(vocab);
            for (int c = 3; c < vocab; c++) {
                prompt[6] = c;
                seq.rewind(0);
                seq.append(prompt, 0, prompt.length);
                seq.append(x);
                seq.run(null);
                probeSampler.probabilities(seq.logits(), 0, SAMPLING, seq.recent(), probe, 0);
                if (probe[c] >= 0.1f) {
                    break;
                }
            }
            assertTrue(probe[prompt[6]] >= 0.1f, "no token c with p(c) >= 0.1 after the prompt");
            seq.rewind(0);
            seq.append(prompt, 0, prompt.length);
            seq.run(null);
            seq.append(x);
            int past = seq.cached();
            // p: the model's distribution after x, computed by a plain step.
            Sampler plain = new Sampler(vocab);
            seq.run(null);
            float[] p = new float[vocab];
            float[] hotter = new float[vocab];
            plain.probabilities(seq.logits(), 0, SAMPLING, seq.recent(), p, 0);
            plain.probabilities(seq.logits(), 0, HOTTER, seq.recent(), hotter, 0);
            seq.rewindPending(past + 1);

            Sampler sampler = new Sampler(vocab);
            long[] counts = new long[vocab];
            int[] first = new int[TRIALS];
            int[] second = new int[TRIALS];
            int[] out = new int[8];
            int[] next = new int[8];
            long rounds = 0;
            long accepted = 0;
            java.util.BitSet lengths = new java.util.BitSet(); // drafts per first round seen
            // The corpus's answers continue "8 9" (the round's last two tokens) with the prompt's c, 6, 7, 8.
            int c = prompt[6];
            int[] answers = {7, 8, 9, c, 6, 7, 8, -1, 2, 8, 9, c, 6, 7, 8, -1};
            try (SpeculativeDecoder spec = corpus ? new SpeculativeDecoder(seq, sampler, config, true,
                    new dev.skipper.core.speculation.SpeculationPolicy.Drafters(
                            List.of(new dev.skipper.core.speculation.CorpusLookupDrafter(answers, vocab)),
                            new dev.skipper.core.speculation.DraftController.Prior[] {
                                new dev.skipper.core.speculation.DraftController.Prior(0.5, false)}, null, null, null))
                    : rating == null ? new SpeculativeDecoder(seq, sampler, config, true)
                    : new SpeculativeDecoder(seq, sampler, config, true,
                            SelfLimitingDraftingTest.featureOnly(seq, rating, 4))) {
                for (int t = 0; t < TRIALS; t++) {
                    sampler.begin(1000 + t);
                    spec.begin();
                    int n = spec.step(SAMPLING, 5, out);
                    assertTrue(n >= 1);
                    counts[out[0]]++;
                    first[t] = out[0];
                    rounds += spec.speculationStats(n).rounds();
                    lengths.set((int) spec.speculationStats(n).drafted());
                    accepted += n - 1;
                    // The token after it: from the same round when a draft was accepted, else from
                    // the next step. Both must follow p(. | x, first).
                    if (n >= 2) {
                        second[t] = out[1];
                    } else {
                        spec.step(SAMPLING, 4, next);
                        second[t] = next[0];
                    }
                    seq.rewindPending(past + 1);
                    assertTrue(seq.cached() == past && seq.cache().length(0) == past);
                }
                if (rating == null) {
                    assertTrue(rounds == TRIALS, "every step must have been a round, got " + rounds);
                } else {
                    assertTrue(rounds > TRIALS / 20 && lengths.cardinality() >= 2,
                            "rounds drafted, and their lengths followed the drafts' probabilities: " + rounds
                                    + " rounds, lengths " + lengths);
                }
            }
            double chi = chiSquare(counts, p, TRIALS);
            double wrong = chiSquare(counts, hotter, TRIALS);
            int df = support(p) - 1;
            double critical = critical(df);
            System.out.printf("%s: chi2 %.1f vs p, %.1f vs the hotter p, df %d, critical (p=0.001) %.1f%n",
                    mode.yamlName(), chi, wrong, df, critical);
            assertTrue(chi < critical, mode + ": chi-square " + chi + " >= " + critical);
            assertTrue(wrong > critical, mode + ": the test cannot tell p from a hotter p (" + wrong + ")");

            // Second token, given the most frequent first token y: against p(. | x, y) from plain steps.
            int y = 0;
            for (int v = 1; v < vocab; v++) {
                y = counts[v] > counts[y] ? v : y;
            }
            seq.run(null); // x
            seq.append(y);
            seq.run(null);
            float[] p2 = new float[vocab];
            float[] hotter2 = new float[vocab];
            plain.probabilities(seq.logits(), 0, SAMPLING, seq.recent(), p2, 0);
            plain.probabilities(seq.logits(), 0, HOTTER, seq.recent(), hotter2, 0);
            seq.rewindPending(past + 1);
            long[] counts2 = new long[vocab];
            int given = 0;
            for (int t = 0; t < TRIALS; t++) {
                if (first[t] == y) {
                    counts2[second[t]]++;
                    given++;
                }
            }
            double chi2 = chiSquare(counts2, p2, given);
            double wrong2 = chiSquare(counts2, hotter2, given);
            double critical2 = critical(support(p2) - 1);
            System.out.printf("%s: second token given %d (%d trials, %d drafts accepted in all): chi2 %.1f vs p, "
                    + "%.1f vs the hotter p, critical %.1f%n", mode.yamlName(), y, given, accepted, chi2, wrong2,
                    critical2);
            assertTrue(given >= TRIALS / 10, mode + ": too few trials start with the most frequent token: " + given);
            assertTrue(accepted > 0, mode + ": no draft was accepted, so the round's later tokens were not tested");
            assertTrue(chi2 < critical2, mode + ": second token chi-square " + chi2 + " >= " + critical2);
            assertTrue(wrong2 > critical2, mode + ": the second-token test cannot tell p from a hotter p (" + wrong2 + ")");
        }
    }

    static int support(float[] p) {
        int n = 0;
        for (float v : p) {
            n += v > 0 ? 1 : 0;
        }
        return n;
    }

    /** Pearson's statistic; tokens with zero expected probability must have zero counts. */
    static double chiSquare(long[] counts, float[] p, int n) {
        double chi = 0;
        for (int i = 0; i < p.length; i++) {
            double expected = p[i] * (double) n;
            if (expected == 0) {
                if (counts[i] > 0) {
                    return Double.POSITIVE_INFINITY;
                }
                continue;
            }
            double d = counts[i] - expected;
            chi += d * d / expected;
        }
        return chi;
    }

    /** The chi-square quantile at 1 - 0.001 (Wilson-Hilferty). */
    static double critical(int df) {
        double z = 3.0902;
        double a = 2.0 / (9.0 * df);
        return df * Math.pow(1 - a + z * Math.sqrt(a), 3);
    }
}
