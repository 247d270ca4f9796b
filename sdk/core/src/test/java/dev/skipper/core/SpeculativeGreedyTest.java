package dev.skipper.core;

import dev.skipper.api.ChatMessage;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.SpeculationMode;
import dev.skipper.api.SpeculationStats;
import dev.skipper.core.config.SpeculationConfig;
import dev.skipper.core.text.PromptFile;
import dev.skipper.runtime.spi.BackendOptions;
import dev.skipper.testing.TestData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Lossless greedy speculation: every mode gives exactly the tokens plain greedy decoding gives, on
 * the shipped prompt sets (chat, input-grounded, code: 21 prompts on SmolLM2), for tiny models and SmolLM2 in
 * fp32, int4 and the default recipe (int4 with int8 matmul activations). Drafting runs with fixed settings (no adaptation) so that every round drafts and
 * rejections happen at many positions.
 *
 * <p>{@code ./skipper test} runs the first two prompts of each set on SmolLM2 (six prompts per case,
 * to keep the suite inside its time budget); {@code SKIPPER_TEST_FULL=1 ./skipper test}
 * ({@code -Dskipper.fullSweep=true}) runs all 21.
 */
class SpeculativeGreedyTest {
    static final List<String> CASES = java.util.stream.Stream.concat(EngineTestData.ALL_CASES.stream(),
            EngineTestData.DEFAULT_RECIPE_CASES.stream()).toList();
    private static final int NEW_TOKENS = 32;
    /** All shipped prompts on the real model (opt-in: it costs ~20 minutes on 2 cores). */
    static final boolean FULL_SWEEP = Boolean.getBoolean("skipper.fullSweep");
    /** Prompts per shipped set for the real model's mode sweep. */
    private static final int REAL_PER_SET = FULL_SWEEP ? 7 : 2;
    private static final SpeculationMode[] MODES = {SpeculationMode.NGRAM, SpeculationMode.EARLY_EXIT,
        SpeculationMode.LAYER_SKIP, SpeculationMode.AUTO};

    @ParameterizedTest
    @FieldSource("CASES")
    void everyModeGivesPlainGreedyTokens(String name) throws Exception {
        DefaultEngine plain = EngineTestData.engine(name);
        int layers = plain.manifest().model().numLayers();
        List<Integer> skip = new ArrayList<>();
        for (int l = 1; l < layers - 1; l += 3) {
            skip.add(l); // every third layer from 1: a lossy draft whose first skipped layer is 1
        }
        if (skip.isEmpty()) {
            skip.add(layers - 1); // a two-layer tiny model: skip the last
        }
        SpeculationConfig spec = new SpeculationConfig(SpeculationMode.AUTO, Math.max(1, layers / 2), 4, 0.0,
                skip, 3, true).fixed();
        boolean tiny = name.startsWith("tiny");
        List<String> prompts = prompts(tiny ? 2 : REAL_PER_SET, tiny ? 600 : 1200); // tiny tokenizers need more tokens per char
        System.out.printf("%s: %d prompts (%s)%n", name, prompts.size(),
                tiny || FULL_SWEEP ? "all chosen" : "subset: SKIPPER_TEST_FULL=1 runs all 21");
        java.util.Map<SpeculationMode, long[]> perMode = new java.util.EnumMap<>(SpeculationMode.class); // drafted, accepted
        try (DefaultEngine engine = Skipper.open(EngineTestData.bundle(name), BackendOptions.DEFAULTS,
                List.of("cpu"), EngineTestData.CONTEXT, spec)) {
            boolean chat = engine.chatTemplate().isPresent() && name.startsWith("smollm2");
            for (int p = 0; p < prompts.size(); p++) {
                String prompt = prompts.get(p);
                int[] want = generate(plain, prompt, chat, null).tokenIds();
                assertEquals(NEW_TOKENS, want.length);
                for (SpeculationMode mode : MODES) {
                    GenerationResult r = generate(engine, prompt, chat, mode);
                    assertArrayEquals(want, r.tokenIds(), name + " prompt " + p + " mode " + mode.yamlName());
                    SpeculationStats s = r.stats().speculation();
                    // Every token after the prefill's first comes from a round (its accepted drafts
                    // plus one) or a plain step: the stats account for each exactly once.
                    assertEquals(r.tokenIds().length, 1 + s.accepted() + s.rounds() + s.plainSteps(),
                            name + " prompt " + p + " mode " + mode.yamlName() + ": token accounting " + s);
                    long[] m = perMode.computeIfAbsent(mode, k -> new long[2]);
                    m[0] += s.drafted();
                    m[1] += s.accepted();
                }
            }
        }
        long accepted = 0;
        for (SpeculationMode mode : MODES) {
            long[] m = perMode.get(mode);
            System.out.printf("%s %s: %d drafted, %d accepted%n", name, mode.yamlName(), m[0], m[1]);
            assertTrue(m[0] > 0, name + " " + mode.yamlName() + ": this mode never drafted, so it was not tested");
            accepted += m[1];
        }
        // The layer-dropping drafts are lossy by construction (every third layer from layer 1, or
        // half the depth): their rejections are the rollback paths under test.
        for (SpeculationMode lossy : new SpeculationMode[] {SpeculationMode.EARLY_EXIT, SpeculationMode.LAYER_SKIP}) {
            long[] m = perMode.get(lossy);
            assertTrue(m[1] < m[0], name + " " + lossy.yamlName() + ": no draft was ever rejected");
        }
        assertTrue(accepted > 0, name + ": no draft of any mode was ever accepted");
    }

    /**
     * FiRST routers: layer-skip drafting without a configured set takes each sequence's skip set
     * from the routers after its prefill; tokens stay plain greedy decoding's.
     */
    @ParameterizedTest
    @FieldSource("CASES")
    void firstRoutedSkipSetsGivePlainGreedyTokens(String name) throws Exception {
        DefaultEngine plain = EngineTestData.engine(name);
        if (plain.manifest().firstRouters() == null) {
            // The test data trains routers wherever it calibrates (a calibrated case without them is
            // a broken data generator, not a skip); uncalibrated cases are reported as skipped.
            assertTrue(plain.manifest().draftHeads() == null, name + ": calibrated but without FiRST routers");
            org.junit.jupiter.api.Assumptions.abort(name + ": not calibrated by the test data, no FiRST routers");
        }
        int layers = plain.manifest().model().numLayers();
        int skipCount = plain.manifest().firstRouters().skipCount();
        SpeculationConfig spec = new SpeculationConfig(SpeculationMode.LAYER_SKIP, null, 4, 0.0, null, 3, true).fixed();
        boolean tiny = name.startsWith("tiny");
        List<String> prompts = prompts(tiny ? 2 : 3, tiny ? 600 : 1200);
        java.util.Set<List<Integer>> sets = new java.util.HashSet<>();
        try (Sequence seq = new Sequence(plain.runner(), EngineTestData.CONTEXT, 64);
             SpeculativeDecoder decoder = new SpeculativeDecoder(seq, new dev.skipper.core.sampling.Sampler(
                     plain.manifest().model().vocabSize()), spec, false)) {
            for (String prompt : prompts) {
                int[] ids = plain.encode(prompt, false);
                int n = Math.min(ids.length, 200);
                seq.rewind(0);
                seq.append(ids, 0, n);
                seq.observeLayerInputs(decoder.promptObserver());
                seq.run(null);
                seq.observeLayerInputs(null);
                decoder.begin();
                List<Integer> chosen = decoder.layerPlan().skipped();
                assertEquals(skipCount, chosen.size(), name + ": the routers choose skip_count layers");
                assertEquals(skipCount, new java.util.HashSet<>(chosen).size(), name + ": distinct layers " + chosen);
                for (int l : chosen) {
                    assertTrue(l >= 0 && l < layers, name + ": skipped layer " + l + " outside the model");
                }
                sets.add(chosen);
            }
        }
        try (DefaultEngine engine = Skipper.open(EngineTestData.bundle(name), BackendOptions.DEFAULTS,
                List.of("cpu"), EngineTestData.CONTEXT, spec)) {
            boolean chat = engine.chatTemplate().isPresent() && name.startsWith("smollm2");
            for (int p = 0; p < prompts.size(); p++) {
                int[] want = generate(plain, prompts.get(p), chat, null).tokenIds();
                GenerationResult r = generate(engine, prompts.get(p), chat, SpeculationMode.LAYER_SKIP);
                assertArrayEquals(want, r.tokenIds(), name + " prompt " + p + " FiRST layer-skip");
                assertTrue(r.stats().speculation().drafted() > 0);
            }
        }
        System.out.printf("%s FiRST: %d distinct skip sets over %d prompts: %s%n", name, sets.size(), prompts.size(), sets);
    }

    /**
     * Calibrated exit heads (adapter + draft vocabulary + router) on the bundles the test data
     * calibrates: the drafts differ, the tokens must not. Threshold 0: the router never stops a
     * round early, so rejections happen.
     */
    @ParameterizedTest
    @FieldSource("CASES")
    void exitHeadDraftsGivePlainGreedyTokens(String name) throws Exception {
        DefaultEngine plain = EngineTestData.engine(name);
        TestData.requireCalibrated(name, plain.manifest().draftHeads() != null, "exit heads");
        assertTrue(plain.runner().hasDraftHeads());
        SpeculationConfig spec = new SpeculationConfig(SpeculationMode.EXIT_HEAD, null, 4, 0.0, null, 3, true).fixed();
        boolean tiny = name.startsWith("tiny");
        List<String> prompts = prompts(tiny ? 2 : 4, tiny ? 600 : 1200);
        long drafted = 0;
        long accepted = 0;
        try (DefaultEngine engine = Skipper.open(EngineTestData.bundle(name), BackendOptions.DEFAULTS,
                List.of("cpu"), EngineTestData.CONTEXT, spec)) {
            boolean chat = engine.chatTemplate().isPresent() && name.startsWith("smollm2");
            for (int p = 0; p < prompts.size(); p++) {
                int[] want = generate(plain, prompts.get(p), chat, null).tokenIds();
                GenerationResult r = generate(engine, prompts.get(p), chat, SpeculationMode.EXIT_HEAD);
                assertArrayEquals(want, r.tokenIds(), name + " prompt " + p + " exit-head");
                drafted += r.stats().speculation().drafted();
                accepted += r.stats().speculation().accepted();
            }
        }
        System.out.printf("%s exit-head: %d drafted, %d accepted%n", name, drafted, accepted);
        assertTrue(drafted > 0 && accepted < drafted, name + ": exit-head drafts must have been made and rejected");
    }

    /**
     * The trained feature drafter (EAGLE-style) on the bundles the test data trains one for: the
     * drafts differ, the tokens must not, also when a session continues a conversation (the
     * drafter's features of the reused prefix come from the earlier request). Threshold 0: every
     * round drafts up to its length, so rejections and rollbacks of the drafter's cache happen.
     */
    @ParameterizedTest
    @FieldSource("CASES")
    void featureDraftsGivePlainGreedyTokens(String name) throws Exception {
        DefaultEngine plain = EngineTestData.engine(name);
        TestData.requireFeatureDrafter(name, plain.manifest().featureDrafter() != null);
        assertTrue(plain.runner().hasFeatureDrafter());
        SpeculationConfig spec = new SpeculationConfig(SpeculationMode.FEATURE, null, 4, 0.0, null, 3, true).fixed();
        List<String> prompts = prompts(2, 600);
        long drafted = 0;
        long accepted = 0;
        try (DefaultEngine engine = Skipper.open(EngineTestData.bundle(name), BackendOptions.DEFAULTS,
                List.of("cpu"), EngineTestData.CONTEXT, spec)) {
            for (int p = 0; p < prompts.size(); p++) {
                int[] want = generate(plain, prompts.get(p), false, null).tokenIds();
                GenerationResult r = generate(engine, prompts.get(p), false, SpeculationMode.FEATURE);
                assertArrayEquals(want, r.tokenIds(), name + " prompt " + p + " feature");
                SpeculationStats s = r.stats().speculation();
                assertEquals(r.tokenIds().length, 1 + s.accepted() + s.rounds() + s.plainSteps(),
                        name + " prompt " + p + ": token accounting " + s);
                drafted += s.drafted();
                accepted += s.accepted();
            }
            // One session, two requests: the second extends the first's prompt and answer.
            String first = prompts.get(0).substring(0, Math.min(200, prompts.get(0).length()));
            GenerationOptions options = EngineTestData.greedyNoEos(NEW_TOKENS);
            try (DefaultSession s = engine.newSession(); DefaultSession ref = plain.newSession()) {
                GenerationResult a = s.generate(first, options.withSpeculation(SpeculationMode.FEATURE), null);
                GenerationResult b = ref.generate(first, options.withSpeculation(SpeculationMode.OFF), null);
                assertArrayEquals(b.tokenIds(), a.tokenIds(), name + ": first turn");
                String next = first + a.text() + " And then?";
                GenerationResult a2 = s.generate(next, options.withSpeculation(SpeculationMode.FEATURE), null);
                GenerationResult b2 = ref.generate(next, options.withSpeculation(SpeculationMode.OFF), null);
                assertArrayEquals(b2.tokenIds(), a2.tokenIds(), name + ": second turn (reused prefix)");
                drafted += a2.stats().speculation().drafted();
            }
            // A session that starts plain has no feature store; the first feature request allocates it and
            // runs the cached prefix again for its features, so the drafter drafts from that turn on.
            try (DefaultSession s = engine.newSession(); DefaultSession ref = plain.newSession()) {
                GenerationResult a = s.generate(first, options.withSpeculation(SpeculationMode.OFF), null);
                assertFalse(s.sequence().hasFeatureStore(), name + ": a plain request allocated the feature store");
                GenerationResult b = ref.generate(first, options.withSpeculation(SpeculationMode.OFF), null);
                assertArrayEquals(b.tokenIds(), a.tokenIds(), name + ": plain first turn");
                String next = first + a.text() + " And then?";
                GenerationResult a2 = s.generate(next, options.withSpeculation(SpeculationMode.FEATURE), null);
                assertTrue(s.sequence().hasFeatureStore(), name);
                GenerationResult b2 = ref.generate(next, options.withSpeculation(SpeculationMode.OFF), null);
                assertArrayEquals(b2.tokenIds(), a2.tokenIds(), name + ": feature turn after a plain one");
                assertTrue(a2.stats().speculation().drafted() > 0, name + ": no drafts after the switch "
                        + a2.stats().speculation());
                assertTrue(a2.stats().promptTokens() > b2.stats().promptTokens(), name + ": the cached prefix "
                        + "must have run again for its features: " + a2.stats() + " vs " + b2.stats());
            }
        }
        System.out.printf("%s feature: %d drafted, %d accepted%n", name, drafted, accepted);
        assertTrue(drafted > 0 && accepted < drafted, name + ": feature drafts must have been made and rejected");
    }

    private static GenerationResult generate(DefaultEngine engine, String prompt, boolean chat, SpeculationMode mode)
            throws Exception {
        GenerationOptions options = EngineTestData.greedyNoEos(NEW_TOKENS).withSpeculation(
                mode == null ? SpeculationMode.OFF : mode);
        try (DefaultSession s = engine.newSession()) {
            return chat ? s.chat(List.of(new ChatMessage("user", prompt)), options, null)
                    : s.generate(prompt, options, null);
        }
    }

    /** The first {@code perSet} prompts of each shipped set, clipped to {@code maxChars} to fit the test context. */
    static List<String> prompts(int perSet, int maxChars) throws Exception {
        Path dir = repo().resolve("benchmarks/prompts");
        List<String> out = new ArrayList<>();
        for (String set : List.of("chat", "grounded", "code")) {
            List<String> all = PromptFile.read(dir.resolve(set + ".txt"));
            for (String p : all.subList(0, Math.min(perSet, all.size()))) {
                out.add(p.length() > maxChars ? p.substring(0, maxChars) : p);
            }
        }
        return out;
    }

    static Path repo() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isDirectory(p.resolve("benchmarks/prompts"))) {
                return p;
            }
        }
        throw new IllegalStateException("no benchmarks/prompts above " + Path.of("").toAbsolutePath());
    }
}
