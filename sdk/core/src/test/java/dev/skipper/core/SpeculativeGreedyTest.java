package dev.skipper.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipper.api.ChatMessage;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.SpeculationMode;
import dev.skipper.api.SpeculationStats;
import dev.skipper.api.spi.BackendOptions;
import dev.skipper.core.config.SpeculationConfig;
import dev.skipper.core.text.PromptFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/**
 * Lossless greedy speculation: every mode gives exactly the tokens plain greedy decoding gives, on
 * the shipped prompt sets (chat, input-grounded, code: 21 prompts on SmolLM2), for tiny models and SmolLM2 in
 * fp32, int4 and the default recipe (int4 with int8 matmul activations). Drafting runs with fixed settings (no adaptation) so that every round drafts and
 * rejections happen at many positions.
 */
class SpeculativeGreedyTest {
    static final List<String> CASES = java.util.stream.Stream.concat(EngineTestData.ALL_CASES.stream(),
            EngineTestData.DEFAULT_RECIPE_CASES.stream()).toList();
    private static final int NEW_TOKENS = 32;
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
        List<String> prompts = prompts(tiny ? 2 : 7, tiny ? 600 : 1200); // tiny tokenizers need more tokens per char
        long rounds = 0;
        long accepted = 0;
        long drafted = 0;
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
                    rounds += s.rounds();
                    accepted += s.accepted();
                    drafted += s.drafted();
                    assertTrue(s.accepted() <= s.drafted());
                }
            }
        }
        System.out.printf("%s: %d rounds, %d drafted, %d accepted%n", name, rounds, drafted, accepted);
        assertTrue(rounds > 0 && accepted > 0 && accepted < drafted,
                name + ": speculation must have run with both accepted and rejected drafts");
    }

    /**
     * FiRST routers: layer-skip drafting without a configured set takes each sequence's skip set
     * from the routers after its prefill; tokens stay plain greedy decoding's.
     */
    @ParameterizedTest
    @FieldSource("CASES")
    void firstRoutedSkipSetsGivePlainGreedyTokens(String name) throws Exception {
        DefaultEngine plain = EngineTestData.engine(name);
        org.junit.jupiter.api.Assumptions.assumeTrue(plain.manifest().firstRouters() != null,
                name + ": no FiRST routers in the test data");
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
        if (plain.manifest().draftHeads() == null) {
            assertTrue(name.contains("standard") || name.equals("smollm2-fp32"),
                    name + ": the test data calibrates exit heads for this case");
            return;
        }
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
