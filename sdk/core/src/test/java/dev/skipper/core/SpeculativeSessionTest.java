package dev.skipper.core;

import dev.skipper.api.FinishReason;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.SamplingOptions;
import dev.skipper.api.SpeculationMode;
import dev.skipper.core.config.SpeculationConfig;
import dev.skipper.runtime.spi.BackendOptions;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A request that ends inside a speculative round (a stop string, the token limit) leaves the
 * session exactly as plain decoding does: same text, tokens, finish reason and cached length, and
 * the next request continues the same way.
 */
class SpeculativeSessionTest {
    // Ends with a phrase that occurred before, so prompt lookup has something to draft.
    private static final String PROMPT = "The history of the language: the history of the language and the history of the";

    @ParameterizedTest
    @EnumSource(value = SpeculationMode.class, names = {"NGRAM", "EARLY_EXIT", "LAYER_SKIP", "AUTO"})
    void stopsInsideARoundLeaveTheSessionAsPlainDecodingDoes(SpeculationMode mode) throws Exception {
        DefaultEngine plainEngine = EngineTestData.engine("tiny-bpe-fp32");
        int layers = plainEngine.manifest().model().numLayers();
        SpeculationConfig spec = new SpeculationConfig(SpeculationMode.AUTO, 1, 6, 0.0, List.of(layers - 1), 2, true)
                .fixed();
        GenerationResult reference;
        try (DefaultSession s = plainEngine.newSession()) {
            reference = s.generate(PROMPT, EngineTestData.greedyNoEos(40), null);
        }
        // A stop string that ends in the middle of the reference text.
        String text = reference.text();
        String prefix = plainEngine.tokenizer().decode(Arrays.copyOf(reference.tokenIds(), 17));
        assertTrue(prefix.length() >= 4 && text.startsWith(prefix), "reference text too short: " + text);
        String stop = prefix.substring(prefix.length() - 3);
        int first = text.indexOf(stop);
        GenerationOptions[] requests = {
            new GenerationOptions(40, SamplingOptions.GREEDY, List.of(stop), false),
            new GenerationOptions(23, SamplingOptions.GREEDY, List.of(), false), // a limit inside a round
            new GenerationOptions(9, SamplingOptions.GREEDY, List.of(), false),
        };
        try (DefaultEngine engine = Skipper.open(EngineTestData.bundle("tiny-bpe-fp32"), BackendOptions.DEFAULTS,
                List.of("cpu"), EngineTestData.CONTEXT, spec);
             DefaultSession plain = plainEngine.newSession(); DefaultSession fast = engine.newSession()) {
            long rounds = 0;
            for (int r = 0; r < requests.length; r++) {
                String prompt = r == 0 ? PROMPT : " and then";
                GenerationResult want = plain.generate(prompt, requests[r].withSpeculation(SpeculationMode.OFF), null);
                GenerationResult got = fast.generate(prompt, requests[r].withSpeculation(mode), null);
                String what = mode.yamlName() + " request " + r;
                assertArrayEquals(want.tokenIds(), got.tokenIds(), what);
                assertEquals(want.text(), got.text(), what);
                assertEquals(want.finishReason(), got.finishReason(), what);
                assertEquals(plain.length(), fast.length(), what + ": cached tokens");
                if (r == 0) {
                    assertEquals(FinishReason.STOP_STRING, got.finishReason());
                    assertEquals(text.substring(0, first), got.text());
                }
                rounds += got.stats().speculation().rounds();
            }
            assertTrue(rounds > 0, mode.yamlName() + ": no speculative round ran");
        }
    }
}
