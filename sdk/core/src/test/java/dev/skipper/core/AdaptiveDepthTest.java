package dev.skipper.core;

import dev.skipper.api.AdaptiveDepth;
import dev.skipper.api.AdaptiveDepthStats;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.SkipperException;
import dev.skipper.core.config.SpeculationConfig;
import dev.skipper.core.sampling.Sampler;
import dev.skipper.runtime.spi.BackendOptions;
import dev.skipper.runtime.spi.HiddenStates;
import dev.skipper.runtime.spi.KvCache;
import dev.skipper.runtime.spi.ModelRunner;
import dev.skipper.testing.TestData;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Lossy adaptive depth: a router that never fires gives plain decoding exactly; one that always
 * fires gives, step by step, the exit's own prediction with the deeper layers' K/V filled from the
 * exited hidden state (checked against the runner's primitives on a second cache); sessions run it
 * only when asked, with coherent stats.
 */
class AdaptiveDepthTest {
    static final List<String> CASES = List.of("tiny-bpe-fp32", "tiny-spm-int4", "smollm2-int4");
    private static final int STEPS = 12;

    @ParameterizedTest
    @FieldSource("CASES")
    void aRouterThatNeverFiresIsPlainDecoding(String name) throws Exception {
        DefaultEngine engine = calibrated(name);
        ModelRunner r = engine.runner();
        int[] prompt = EngineTestData.goldens(name).prompts().get(0).ids();
        int[] want = greedy(r, prompt, null);
        int[] exits = exits(r);
        double[] never = new double[exits.length];
        java.util.Arrays.fill(never, 2.0);
        try (Sequence seq = new Sequence(r, prompt.length + STEPS + 1, prompt.length);
             AdaptiveDepthStep step = new AdaptiveDepthStep(seq, exits, never)) {
            assertArrayEquals(want, greedy(r, prompt, step), name);
            assertEquals(0, step.stats().exited());
            assertEquals(r.manifest().model().numLayers(), step.stats().layersPerToken(), 1e-9);
        }
    }

    @ParameterizedTest
    @FieldSource("CASES")
    void anAlwaysFiringExitPredictsFromTheExitAndFillsDeeperLayers(String name) throws Exception {
        DefaultEngine engine = calibrated(name);
        ModelRunner r = engine.runner();
        int layers = r.manifest().model().numLayers();
        int exit = r.manifest().draftHeads().defaultExit();
        int vocab = r.manifest().model().vocabSize();
        int[] prompt = EngineTestData.goldens(name).prompts().get(0).ids();
        int p = prompt.length;
        int max = p + STEPS + 1;
        try (Sequence seq = new Sequence(r, max, p);
             AdaptiveDepthStep step = new AdaptiveDepthStep(seq, new int[] {exit}, new double[] {0.0});
             KvCache ref = r.newKvCache(max); HiddenStates hs = r.newHiddenStates(p);
             HiddenStates adapted = r.newHiddenStates(1)) {
            seq.append(prompt, 0, p);
            seq.run(null);
            // The reference: the same history through the primitives.
            r.embed(prompt, 0, p, hs);
            for (int l = 0; l < layers; l++) {
                r.layer(l, hs, p, ref);
            }
            float[] want = new float[vocab];
            float[] accept = new float[1];
            step.begin();
            for (int i = 0; i < STEPS; i++) {
                int token = Sampler.argmax(seq.logits(), 0, vocab);
                seq.append(token);
                step.step();
                r.embed(new int[] {token}, 0, 1, hs);
                for (int l = 0; l < exit; l++) {
                    r.layer(l, hs, 1, ref);
                }
                r.copyRows(hs, 0, adapted, 0, 1);
                r.exitHead(exit, adapted, 1, accept);
                r.head(adapted, 0, 1, want);
                for (int l = exit; l < layers; l++) {
                    r.fillKv(l, hs, 1, ref); // the exited (not adapted) state, never zeros
                }
                assertArrayEquals(want, seq.logits(), 1e-5f, name + " step " + i);
                assertEquals(p + i + 1, seq.cached());
                for (int l = 0; l < layers; l++) {
                    assertEquals(p + i + 1, seq.cache().length(l), "layer " + l + " must hold the token's row");
                }
            }
            AdaptiveDepthStats s = step.stats();
            assertEquals(STEPS, s.tokens());
            assertEquals(STEPS, s.exited());
            assertEquals(exit, s.layersPerToken(), 1e-9);
        }
    }

    @ParameterizedTest
    @FieldSource("CASES")
    void sessionsRunItOnlyWhenAsked(String name) throws Exception {
        DefaultEngine plain = calibrated(name);
        SpeculationConfig lossy = SpeculationConfig.OFF.withAdaptiveDepth(AdaptiveDepth.lossy(0.5));
        String prompt = "The quick brown fox";
        GenerationOptions greedy = EngineTestData.greedyNoEos(24);
        int[] want;
        try (DefaultSession s = plain.newSession()) {
            want = s.generate(prompt, greedy, null).tokenIds();
        }
        try (DefaultEngine engine = Skipper.open(EngineTestData.bundle(name), BackendOptions.DEFAULTS, List.of("cpu"),
                EngineTestData.CONTEXT, lossy); DefaultSession s = engine.newSession()) {
            GenerationResult r = s.generate(prompt, greedy, null);
            AdaptiveDepthStats d = r.stats().adaptiveDepth();
            assertEquals(23, d.tokens(), "every decode step after the first token");
            assertTrue(d.exited() <= d.tokens());
            assertTrue(d.layersPerToken() <= engine.manifest().model().numLayers());
            s.reset();
            GenerationResult off = s.generate(prompt, greedy.withAdaptiveDepth(AdaptiveDepth.OFF), null);
            assertArrayEquals(want, off.tokenIds(), "a request may switch the lossy mode off");
            assertEquals(AdaptiveDepthStats.NONE, off.stats().adaptiveDepth());
        }
    }

    /** Lossy per-sequence skipping (FiRST): routed layers are skipped but keep complete cache rows. */
    @ParameterizedTest
    @FieldSource("CASES")
    void firstSkippedLayersStillGetTheirCacheRows(String name) throws Exception {
        DefaultEngine engine = calibrated(name);
        ModelRunner r = engine.runner();
        assertTrue(r.manifest().firstRouters() != null, name + ": calibration always trains FiRST routers");
        int layers = r.manifest().model().numLayers();
        int[] prompt = EngineTestData.goldens(name).prompts().get(0).ids();
        int p = prompt.length;
        try (Sequence seq = new Sequence(r, p + STEPS + 1, p);
             AdaptiveDepthStep step = new AdaptiveDepthStep(seq, 0.5)) {
            seq.append(prompt, 0, p);
            seq.observeLayerInputs(step.promptObserver());
            seq.run(null);
            seq.observeLayerInputs(null);
            step.begin();
            List<Integer> skipped = step.skippedLayers();
            assertTrue(skipped.size() <= r.manifest().firstRouters().skipCount());
            for (int i = 0; i < STEPS; i++) {
                seq.append(Sampler.argmax(seq.logits(), 0, r.manifest().model().vocabSize()));
                step.step();
                for (int l = 0; l < layers; l++) {
                    assertEquals(p + i + 1, seq.cache().length(l), name + " layer " + l + " (skipped: " + skipped + ")");
                }
            }
            assertTrue(step.stats().layersPerToken() <= layers - skipped.size() + 1e-9);
        }
    }

    /** Teacher-forced scoring of the lossy mode: positions, the full model's side, and bad input. */
    @ParameterizedTest
    @FieldSource("CASES")
    void scoringComparesWithTheFullModelOnTheSamePositions(String name) throws Exception {
        DefaultEngine engine = calibrated(name);
        String text = EngineTestData.goldens(name).prompts().get(0).text();
        int prefix = 8;
        try (DefaultSession s = engine.newSession()) {
            int[] ids = engine.encode(text, false);
            dev.skipper.api.ScoreResult full = s.score(text);
            dev.skipper.api.AdaptiveDepthScore lossy = s.scoreAdaptiveDepth(text, AdaptiveDepth.lossy(0.5), prefix);
            double sum = 0;
            for (int pos = prefix - 1; pos < ids.length - 1; pos++) {
                sum += full.logprobs()[pos];
            }
            assertEquals(Math.exp(-sum / (ids.length - prefix)), lossy.fullPerplexity(), 1e-9);
            assertTrue(lossy.agreement() >= 0 && lossy.agreement() <= 1);
            assertTrue(lossy.perplexity() > 0 && Double.isFinite(lossy.perplexity()));
            assertEquals(ids.length - prefix - 1, lossy.stats().tokens());
            assertEquals(0, s.length(), "scoring leaves the conversation alone");
            assertThrows(SkipperException.class, () -> s.scoreAdaptiveDepth("hi", AdaptiveDepth.lossy(0.5), 64));
            assertThrows(IllegalArgumentException.class, () -> s.scoreAdaptiveDepth(text, AdaptiveDepth.OFF, prefix));
        }
    }

    @org.junit.jupiter.api.Test
    void bundlesWithoutExitHeadsRefuseIt() {
        SpeculationConfig lossy = SpeculationConfig.OFF.withAdaptiveDepth(AdaptiveDepth.lossy(0.97));
        SkipperException e = assertThrows(SkipperException.class, () -> Skipper.open(
                EngineTestData.bundle(dev.skipper.testing.TestData.UNCALIBRATED), BackendOptions.DEFAULTS, List.of("cpu"),
                EngineTestData.CONTEXT, lossy).close());
        assertTrue(e.getMessage().contains("adaptive depth needs exit heads"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> AdaptiveDepth.lossy(0.3));
    }

    private static DefaultEngine calibrated(String name) throws SkipperException {
        DefaultEngine engine = EngineTestData.engine(name);
        TestData.requireCalibrated(name, engine.runner().hasDraftHeads() && engine.runner().hasKvFill(),
                "exit heads / kv_fill graphs");
        return engine;
    }

    private static int[] exits(ModelRunner r) {
        return r.manifest().draftHeads().exits().stream().mapToInt(e -> e.layer()).toArray();
    }

    /** STEPS greedy tokens after the prompt: plain steps, or adaptive-depth steps. */
    private static int[] greedy(ModelRunner r, int[] prompt, AdaptiveDepthStep step) throws SkipperException {
        int vocab = r.manifest().model().vocabSize();
        int[] out = new int[STEPS];
        try (Sequence own = step == null ? new Sequence(r, prompt.length + STEPS + 1, prompt.length) : null) {
            Sequence seq = own;
            if (seq == null) {
                seq = stepSequence(step);
            }
            seq.append(prompt, 0, prompt.length);
            seq.run(null);
            for (int i = 0; i < STEPS; i++) {
                out[i] = Sampler.argmax(seq.logits(), 0, vocab);
                seq.append(out[i]);
                if (step == null) {
                    seq.run(null);
                } else {
                    step.step();
                }
            }
        }
        return out;
    }

    private static Sequence stepSequence(AdaptiveDepthStep step) {
        return step.sequence();
    }
}
