package dev.skipper.core;

import dev.skipper.api.DrafterStats;
import dev.skipper.api.SpeculationMode;
import dev.skipper.api.SpeculationStats;
import dev.skipper.core.config.SpeculationConfig;
import dev.skipper.core.sampling.Sampler;
import dev.skipper.core.speculation.CorpusLookupDrafter;
import dev.skipper.core.speculation.DraftController;
import dev.skipper.core.speculation.PromptLookupDrafter;
import dev.skipper.core.speculation.SpeculationPolicy;
import dev.skipper.runtime.spi.ModelRunner;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Corpus lookup on a calibrated tiny bundle (its {@code draft_corpus}): {@code auto} tries it right
 * after prompt lookup and every session of an engine shares one index; a decoder drafting only from
 * a corpus of the model's own answer (and a corrupted copy) gives plain decoding's greedy tokens
 * while its drafts are verified, accepted and rejected.
 */
class CorpusDraftingTest {
    private static final String CASE = "tiny-spm-int4-int8"; // the default recipe: int8 activations

    @Test
    void autoDraftsFromTheCorpusAfterPromptLookupWithOneIndexPerEngine() throws Exception {
        ModelRunner runner = EngineTestData.engine(CASE).runner();
        assertNotNull(runner.manifest().draftCorpus(), "calibration wrote no draft corpus into " + CASE);
        SpeculationConfig auto = new SpeculationConfig(SpeculationMode.AUTO, null, 4, 0.0, null, 3, true);
        try (SpeculationPolicy.Drafters a = SpeculationPolicy.drafters(auto, runner, 64, 16);
             SpeculationPolicy.Drafters b = SpeculationPolicy.drafters(auto, runner, 64, 16);
             SpeculationPolicy.Drafters ngram = SpeculationPolicy.drafters(auto.withMode(SpeculationMode.NGRAM), runner,
                     64, 16)) {
            assertTrue(a.drafters().get(0) instanceof PromptLookupDrafter);
            assertTrue(a.drafters().get(1) instanceof CorpusLookupDrafter, a.drafters().toString());
            assertSame(a.drafters().get(1), b.drafters().get(1), "two sessions built two corpus indexes");
            assertTrue(ngram.drafters().stream().noneMatch(d -> d instanceof CorpusLookupDrafter),
                    "mode ngram is prompt lookup only");
        }
    }

    @Test
    void corpusDraftsAreVerifiedAndKeepPlainDecodingsTokens() throws Exception {
        DefaultEngine engine = EngineTestData.engine(CASE);
        ModelRunner runner = engine.runner();
        int vocab = runner.manifest().model().vocabSize();
        int[] prompt = {5, 17, 42, 9, 77, 3};
        Sampler sampler = new Sampler(vocab);
        SpeculationConfig config = new SpeculationConfig(SpeculationMode.AUTO, null, 4, 0.0, null, 3, false);
        int n = 48;
        try (Sequence seq = new Sequence(runner, 128, 16)) {
            int[] want = EngineTestData.plainGreedy(seq, sampler, prompt, n + 8);
            // A corpus of the model's own answer once and twice with every fifth token changed: the
            // majority continues with the changed tokens there, so some drafts are right and some wrong.
            int[] corpus = new int[3 * (want.length + 1)];
            for (int c = 0; c < 3; c++) {
                for (int i = 0; i < want.length; i++) {
                    corpus[c * (want.length + 1) + i] = c > 0 && i % 5 == 4 ? (want[i] + 1) % vocab : want[i];
                }
                corpus[c * (want.length + 1) + want.length] = -1;
            }
            int[] got = new int[n + 8];
            got[0] = EngineTestData.prefillGreedy(seq, sampler, prompt);
            SpeculationStats stats;
            try (SpeculativeDecoder spec = new SpeculativeDecoder(seq, sampler, config, false,
                    new SpeculationPolicy.Drafters(List.of(new CorpusLookupDrafter(corpus, vocab)),
                            new DraftController.Prior[] {new DraftController.Prior(0.5, false)}, null, null, null))) {
                spec.begin();
                int have = EngineTestData.decodeGreedy(spec, got, 1, n);
                stats = spec.speculationStats(have);
            }
            assertArrayEquals(Arrays.copyOf(want, n), Arrays.copyOf(got, n), stats.toString());
            DrafterStats corpusStats = stats.byDrafter().get(0);
            assertEquals("corpus", corpusStats.name());
            assertTrue(corpusStats.rounds() > 5 && corpusStats.accepted() > corpusStats.rounds()
                    && corpusStats.accepted() < corpusStats.drafted(), "corpus drafts were verified, most accepted, "
                    + "some rejected: " + stats);
            System.out.printf("corpus drafting on %s: %s%n", CASE, corpusStats);
        }
    }
}
