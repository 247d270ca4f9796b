package dev.skipper.tensorrt;

import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.SamplingOptions;
import dev.skipper.api.SpeculationMode;
import dev.skipper.core.DefaultEngine;
import dev.skipper.core.DefaultSession;
import dev.skipper.core.Skipper;
import dev.skipper.core.config.SpeculationConfig;
import dev.skipper.core.text.PromptFile;
import dev.skipper.runtime.spi.BackendOptions;
import dev.skipper.testing.TestData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Greedy speculative decoding through the TensorRT runner (on the stand-in seam) is token-for-token
 * plain decoding on the same runner, in every mode the bundle supports (the test data calibrates it:
 * exit heads, draft head and the trained feature drafter run as engines), with fixed settings and
 * with the adaptive default, and plain decoding equals the cpu backend's.
 */
class TrtSpeculativeIdentityTest {
    private static final String CASE = "tiny-bpe-fp32-standard";
    private static final int NEW_TOKENS = 32;
    private static final int CONTEXT = 0; // the model's max_position

    /**
     * @param fixed true: fixed settings (every round drafts up to the limit, so each drafter's rounds
     *              are verified); false: the adaptive default (the controller's and the calibrated
     *              confidence's choices, drafters skipped or switched off as they measure)
     */
    @ParameterizedTest(name = "fixed settings: {0}")
    @ValueSource(booleans = {true, false})
    void everyModeIsPlainDecodingAndPlainIsTheCpuBackends(boolean fixed) throws Exception {
        Path bundle = TestData.bundle(CASE);
        int layers;
        try (DefaultEngine probe = Skipper.open(bundle, BackendOptions.DEFAULTS, List.of("cpu"), CONTEXT)) {
            layers = probe.model().layers();
        }
        List<Integer> skip = List.of(Math.max(0, layers - 2));
        SpeculationConfig adaptive = new SpeculationConfig(SpeculationMode.AUTO, Math.max(1, layers / 2), 4, 0.0, skip,
                3, true);
        SpeculationConfig spec = fixed ? adaptive.fixed() : adaptive;
        GenerationOptions plain = new GenerationOptions(NEW_TOKENS, SamplingOptions.GREEDY, List.of(), false);
        long drafted = 0;
        try (DefaultEngine trt = Skipper.open(bundle, BackendOptions.DEFAULTS, List.of(StandInBackendProvider.NAME),
                CONTEXT, spec);
             DefaultEngine cpu = Skipper.open(bundle, BackendOptions.DEFAULTS, List.of("cpu"), CONTEXT)) {
            assertEquals(StandInBackendProvider.NAME, trt.backendName());
            for (String prompt : prompts()) {
                int[] want = generate(trt, prompt, plain);
                assertEquals(NEW_TOKENS, want.length);
                assertArrayEquals(generate(cpu, prompt, plain), want, "plain tensorrt vs cpu: " + prompt);
                for (SpeculationMode mode : new SpeculationMode[] {SpeculationMode.NGRAM, SpeculationMode.EARLY_EXIT,
                        SpeculationMode.LAYER_SKIP, SpeculationMode.EXIT_HEAD, SpeculationMode.FEATURE,
                        SpeculationMode.AUTO}) {
                    try (DefaultSession s = trt.newSession()) {
                        GenerationResult r = s.generate(prompt, plain.withSpeculation(mode), null);
                        assertArrayEquals(want, r.tokenIds(), mode.yamlName() + ": " + prompt);
                        drafted += r.stats().speculation().drafted();
                        if (fixed && (mode == SpeculationMode.FEATURE || mode == SpeculationMode.EXIT_HEAD)) {
                            assertTrue(r.stats().speculation().drafted() > 0, mode.yamlName() + " drafted nothing");
                        }
                    }
                }
            }
        }
        assertTrue(drafted > 0, "drafts were made and verified through the TensorRT runner (fixed settings: "
                + fixed + ")");
    }

    private static int[] generate(DefaultEngine engine, String prompt, GenerationOptions options) throws Exception {
        try (DefaultSession s = engine.newSession()) {
            return s.generate(prompt, options, null).tokenIds();
        }
    }

    /** The first prompt of each shipped benchmark set, clipped to fit the tiny model's context. */
    private static List<String> prompts() throws Exception {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.isDirectory(dir.resolve("benchmarks/prompts"))) {
            dir = dir.getParent();
        }
        assertTrue(dir != null, "benchmarks/prompts not found above " + Path.of("").toAbsolutePath());
        List<String> out = new ArrayList<>();
        for (String set : List.of("chat", "grounded", "code")) {
            String p = PromptFile.read(dir.resolve("benchmarks/prompts/" + set + ".txt")).get(0);
            out.add(p.substring(0, Math.min(p.length(), 300)));
        }
        return out;
    }
}
