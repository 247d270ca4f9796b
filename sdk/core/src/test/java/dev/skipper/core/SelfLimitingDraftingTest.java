package dev.skipper.core;

import dev.skipper.api.SpeculationMode;
import dev.skipper.api.SpeculationStats;
import dev.skipper.core.config.SpeculationConfig;
import dev.skipper.core.sampling.Sampler;
import dev.skipper.core.speculation.AcceptanceByConfidence;
import dev.skipper.core.speculation.DraftController;
import dev.skipper.core.speculation.FeatureDrafter;
import dev.skipper.core.speculation.SpeculationPolicy;
import dev.skipper.testing.TestData;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The trained feature drafter choosing its own draft lengths (the adaptive default: drafts kept
 * while their calibrated acceptance pays for their rows) under the adaptive controller. The test
 * data's tiny drafters are calibrated to accept nothing, so each case gives the drafter a rating
 * of its own: an optimistic one (long drafts, nearly all rejected: rollbacks) and one that rates
 * nothing worth verifying (every round empty, then a plain step). Greedy tokens must be plain
 * decoding's either way, and the stats must account for every token.
 */
class SelfLimitingDraftingTest {
    private static final int NEW_TOKENS = 48;
    private static final int[] PROMPT = {11, 5, 6, 7, 8, 9, 5, 6, 7, 8, 12, 13, 14, 5, 6};

    /** A calibration that rates every draft accepted with probability {@code a}. */
    static AcceptanceByConfidence rating(double a) {
        List<double[]> table = new ArrayList<>();
        for (int i = 1; i < 20; i++) {
            double t = 0.05 * i;
            table.add(new double[] {t, a, 1 - t}); // drafts spread evenly over confidence
        }
        return AcceptanceByConfidence.fromThresholdTable(table);
    }

    /**
     * A calibration that accepts every draft whose confidence reaches {@code at} and none below
     * (drafts spread evenly over confidence), so a round's length follows the drafts' confidences.
     */
    static AcceptanceByConfidence ratingFrom(double at) {
        List<double[]> table = new ArrayList<>();
        for (int i = 1; i < 20; i++) {
            double t = 0.05 * i;
            table.add(new double[] {t, (1 - Math.max(t, at)) / (1 - t), 1 - t});
        }
        return AcceptanceByConfidence.fromThresholdTable(table);
    }

    /** The feature drafter alone, rated by {@code rating}, as the policy would build it. */
    static SpeculationPolicy.Drafters featureOnly(Sequence seq, AcceptanceByConfidence rating, int maxDraft)
            throws Exception {
        FeatureDrafter f = new FeatureDrafter(seq.runner(), seq.contextLength(), seq.chunk(), 0.0, rating, Double.NaN);
        assertTrue(f.limitsItself());
        return new SpeculationPolicy.Drafters(List.of(f),
                new DraftController.Prior[] {new DraftController.Prior(0.5, true)}, null, null, f);
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-bpe-fp32", "tiny-spm-int4", "tiny-spm-int4-int8"})
    void greedyTokensAreAlwaysPlainDecodings(String name) throws Exception {
        DefaultEngine engine = EngineTestData.engine(name);
        TestData.requireFeatureDrafter(name, engine.manifest().featureDrafter() != null);
        var runner = engine.runner();
        Sampler sampler = new Sampler(runner.manifest().model().vocabSize());
        SpeculationConfig config = new SpeculationConfig(SpeculationMode.FEATURE, null, 4, 0.8, null, 3, true);
        try (Sequence seq = new Sequence(runner, 128, 16)) {
            seq.needFeatures(); // as a request whose strategy drafts with the feature drafter
            int[] want = EngineTestData.plainGreedy(seq, sampler, PROMPT, NEW_TOKENS);
            for (double a : new double[] {0.95, 0.0}) {
                int[] got = new int[NEW_TOKENS + 8];
                int n = 0;
                got[n++] = EngineTestData.prefillGreedy(seq, sampler, PROMPT);
                SpeculationStats stats;
                try (SpeculativeDecoder spec = new SpeculativeDecoder(seq, sampler, config, false,
                        featureOnly(seq, rating(a), 4))) {
                    spec.begin();
                    n = EngineTestData.decodeGreedy(spec, got, n, NEW_TOKENS);
                    stats = spec.speculationStats(n);
                }
                assertArrayEquals(want, Arrays.copyOf(got, NEW_TOKENS), name + " rated " + a + ": " + stats);
                assertEquals(NEW_TOKENS, 1 + stats.rounds() + stats.accepted() + stats.plainSteps(),
                        name + " rated " + a + ": token accounting " + stats);
                if (a > 0.5) {
                    assertTrue(stats.drafted() >= 4 && stats.accepted() < stats.drafted(),
                            name + ": optimistic rating: drafts made and rejected " + stats);
                } else {
                    assertEquals(0, stats.drafted(), name + ": no draft is worth a row at acceptance 0 " + stats);
                    assertEquals(NEW_TOKENS - 1, stats.plainSteps(), name + ": every step plain " + stats);
                    assertTrue(stats.draftMillis() > 0, name + ": the drafter ran (and found nothing): " + stats);
                }
            }
        }
    }
}
