package dev.skipper.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipper.api.SpeculationMode;
import dev.skipper.api.SpeculationStats;
import dev.skipper.core.config.SpeculationConfig;
import dev.skipper.core.sampling.Sampler;
import dev.skipper.core.speculation.DraftContext;
import dev.skipper.core.speculation.DraftController;
import dev.skipper.core.speculation.Drafter;
import dev.skipper.core.speculation.Drafts;
import dev.skipper.core.speculation.SpeculationPolicy;
import dev.skipper.runtime.spi.ModelRunner;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A drafter that runs model layers and then drafts nothing (its confidence said no draft pays)
 * still spent those layers: the stats' layers per token count them, next to the plain step that
 * follows. Before, only verified rounds' drafter layers were counted.
 */
class EmptyRoundLayersTest {
    private static final int[] PROMPT = {11, 5, 6, 7, 8, 9, 12, 13};
    private static final int LAYERS_PER_CALL = 3;

    /** Reports {@value #LAYERS_PER_CALL} layer runs and keeps no draft, every call. */
    private static final class EmptyModelDrafter implements Drafter {
        int calls;

        @Override
        public String name() {
            return "empty";
        }

        @Override
        public boolean limitsItself() {
            return true;
        }

        @Override
        public void propose(DraftContext context, int max, Drafts out) {
            calls++;
            out.countLayerRuns(LAYERS_PER_CALL);
        }
    }

    @Test
    void layersOfARoundThatDraftsNothingAreCounted() throws Exception {
        DefaultEngine engine = EngineTestData.engine("tiny-bpe-fp32");
        ModelRunner runner = engine.runner();
        int layers = runner.manifest().model().numLayers();
        Sampler sampler = new Sampler(runner.manifest().model().vocabSize());
        SpeculationConfig config = new SpeculationConfig(SpeculationMode.AUTO, null, 4, 0.0, null, 3, true);
        int newTokens = 40;
        try (Sequence seq = new Sequence(runner, 128, 16)) {
            int[] want = EngineTestData.plainGreedy(seq, sampler, PROMPT, newTokens);
            int[] got = new int[newTokens + 8];
            int n = 0;
            got[n++] = EngineTestData.prefillGreedy(seq, sampler, PROMPT);
            EmptyModelDrafter drafter = new EmptyModelDrafter();
            SpeculationPolicy.Drafters set = new SpeculationPolicy.Drafters(List.of(drafter),
                    new DraftController.Prior[] {new DraftController.Prior(0.9, true)}, null, null, null);
            SpeculationStats stats;
            long[] now = {0};
            try (SpeculativeDecoder spec = new SpeculativeDecoder(seq, sampler, config, false, set,
                    () -> now[0] += 1_000_000)) {
                spec.begin();
                n = EngineTestData.decodeGreedy(spec, got, n, newTokens);
                stats = spec.speculationStats(n);
            }
            assertArrayEquals(want, java.util.Arrays.copyOf(got, newTokens), stats.toString());
            assertEquals(0, stats.rounds(), stats.toString());
            assertTrue(drafter.calls > 0, "the drafter was never asked: the test checks nothing " + stats);
            double expected = (double) (stats.plainSteps() * layers + (long) drafter.calls * LAYERS_PER_CALL)
                    / Math.max(1, n - 1);
            assertEquals(expected, stats.layersPerToken(), 1e-9, drafter.calls + " empty calls, " + stats);
        }
    }
}
