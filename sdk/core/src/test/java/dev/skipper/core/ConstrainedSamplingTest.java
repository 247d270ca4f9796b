package dev.skipper.core;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipper.api.SamplingOptions;
import dev.skipper.api.SpeculationMode;
import dev.skipper.core.config.SpeculationConfig;
import dev.skipper.core.constrained.ByteAutomaton;
import dev.skipper.core.constrained.Constraint;
import dev.skipper.core.constrained.TokenVocabulary;
import dev.skipper.core.sampling.Sampler;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Exact speculative sampling under a grammar: the first token of a round follows the model's
 * distribution with the grammar's disallowed tokens removed and the rest renormalised, and so does
 * the token after it (from the same round when a draft was accepted, else from the next step, with
 * the grammar advanced). The grammar forbids the first byte of the second most likely token, so
 * the masked distribution differs from the model's: the same counts against the unmasked
 * distribution must fail. Chi-square as in {@link SpeculativeSamplingTest}.
 */
class ConstrainedSamplingTest {
    private static final int TRIALS = 5000;
    private static final SamplingOptions SAMPLING = new SamplingOptions(false, 1.0, 12, 1.0, 0.0, 1.0, 0);

    /** Configuration 0: the first byte must not be in {@code forbidden}; then 1: anything, a document already. */
    record FirstByteRule(int forbidden) implements ByteAutomaton {
        @Override
        public long start() {
            return 0;
        }

        @Override
        public long next(long config, int b) {
            return config == 0 && b == forbidden ? DEAD : 1;
        }

        @Override
        public boolean accepting(long config) {
            return config == 1;
        }

        @Override
        public boolean closed(long config) {
            return false;
        }
    }

    @ParameterizedTest
    @EnumSource(value = SpeculationMode.class, names = {"LAYER_SKIP", "NGRAM", "EXIT_HEAD", "FEATURE"})
    void aRoundsTokensFollowTheMaskedDistribution(SpeculationMode mode) throws Exception {
        DefaultEngine engine = EngineTestData.engine("tiny-bpe-fp32");
        var runner = engine.runner();
        int layers = runner.manifest().model().numLayers();
        int vocab = runner.manifest().model().vocabSize();
        TokenVocabulary tokens = engine.vocabulary();
        byte[][] bytes = engine.tokenizer().tokenBytes();
        int[] prompt = {11, 5, 6, 7, 8, 9, 5, 6, 7, 8}; // its last 3-gram occurred before: prompt lookup drafts
        int x = 9;
        SpeculationConfig config = new SpeculationConfig(mode, null, 4, 0.0, List.of(layers - 1), 3, true).fixed();
        try (Sequence seq = new Sequence(runner, 64, 16)) {
            seq.needFeatures(); // as a request whose strategy drafts with the feature drafter
            seq.append(prompt, 0, prompt.length);
            seq.run(null);
            seq.append(x);
            int past = seq.cached();
            Sampler plain = new Sampler(vocab);
            seq.run(null);
            float[] raw = seq.logits().clone();
            float[] p = new float[vocab];
            plain.probabilities(raw, 0, SAMPLING, seq.recent(), p, 0);
            // The grammar forbids the second most likely token's first byte.
            int top = 0;
            for (int t = 1; t < vocab; t++) {
                top = p[t] > p[top] ? t : top;
            }
            int second = top == 0 ? 1 : 0;
            for (int t = 0; t < vocab; t++) {
                second = t != top && p[t] > p[second] && bytes[t] != null && bytes[t].length > 0
                        && bytes[t][0] != bytes[top][0] ? t : second;
            }
            assertTrue(p[second] > 0.03, "the masked token must carry mass: " + p[second]);
            FirstByteRule rule = new FirstByteRule(bytes[second][0] & 0xff);
            float[] masked = raw.clone();
            Constraint probe = new Constraint(rule, tokens);
            probe.mask(masked, 0);
            float[] pm = new float[vocab];
            plain.probabilities(masked, 0, SAMPLING, seq.recent(), pm, 0);
            seq.rewindPending(past + 1);

            Sampler sampler = new Sampler(vocab);
            long[] counts = new long[vocab];
            int[] first = new int[TRIALS];
            int[] next = new int[TRIALS];
            int[] out = new int[8];
            int[] more = new int[8];
            long accepted = 0;
            try (SpeculativeDecoder spec = new SpeculativeDecoder(seq, sampler, config, true)) {
                for (int t = 0; t < TRIALS; t++) {
                    Constraint c = new Constraint(rule, tokens);
                    seq.constrain(c);
                    sampler.begin(7000 + t);
                    spec.begin();
                    int n = spec.step(SAMPLING, 5, out);
                    assertTrue(n >= 1);
                    counts[out[0]]++;
                    first[t] = out[0];
                    accepted += n - 1;
                    c.advance(out[0]); // throws if the token was not allowed
                    if (n >= 2) {
                        next[t] = out[1];
                    } else {
                        spec.step(SAMPLING, 4, more);
                        next[t] = more[0];
                    }
                    c.advance(next[t]);
                    seq.rewindPending(past + 1);
                }
            } finally {
                seq.constrain(null);
            }
            double chi = SpeculativeSamplingTest.chiSquare(counts, pm, TRIALS);
            double unmasked = SpeculativeSamplingTest.chiSquare(counts, p, TRIALS);
            double critical = SpeculativeSamplingTest.critical(SpeculativeSamplingTest.support(pm) - 1);
            System.out.printf("%s under a grammar: chi2 %.1f vs masked p, %.1f vs p, critical %.1f, %d drafts accepted%n",
                    mode.yamlName(), chi, unmasked, critical, accepted);
            assertTrue(chi < critical, mode + ": chi-square " + chi + " >= " + critical);
            assertTrue(mode == SpeculationMode.NGRAM || accepted > 0, mode + ": no draft accepted under the grammar, "
                    + "so the masks along drafts were not tested");
            assertTrue(unmasked > critical, mode + ": the test cannot tell the masked p from p (" + unmasked + ")");

            // The next token, given the most frequent first token y: against p(. | x, y) masked in state 1.
            int y = 0;
            for (int v = 1; v < vocab; v++) {
                y = counts[v] > counts[y] ? v : y;
            }
            seq.run(null); // x
            seq.append(y);
            seq.run(null);
            float[] raw2 = seq.logits().clone();
            Constraint after = new Constraint(rule, tokens);
            after.advance(y);
            after.mask(raw2, 0);
            float[] p2 = new float[vocab];
            plain.probabilities(raw2, 0, SAMPLING, seq.recent(), p2, 0);
            seq.rewindPending(past + 1);
            long[] counts2 = new long[vocab];
            int given = 0;
            for (int t = 0; t < TRIALS; t++) {
                if (first[t] == y) {
                    counts2[next[t]]++;
                    given++;
                }
            }
            double chi2 = SpeculativeSamplingTest.chiSquare(counts2, p2, given);
            double critical2 = SpeculativeSamplingTest.critical(SpeculativeSamplingTest.support(p2) - 1);
            System.out.printf("%s under a grammar, next token given %d (%d trials): chi2 %.1f, critical %.1f%n",
                    mode.yamlName(), y, given, chi2, critical2);
            assertTrue(given >= TRIALS / 10, mode + ": too few trials start with " + y + ": " + given);
            assertTrue(chi2 < critical2, mode + ": next-token chi-square " + chi2 + " >= " + critical2);
        }
    }
}
