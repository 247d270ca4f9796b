package dev.skipper.core;

import dev.skipper.api.ContextOverflowException;
import dev.skipper.api.EmptyPromptException;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.SamplingOptions;
import dev.skipper.api.SpeculationMode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The Java API at its bounds: every {@link SamplingOptions} and {@link GenerationOptions} field at
 * zero, negative, tiny, huge, NaN and infinite values either is refused with the documented
 * {@link IllegalArgumentException} naming the field, or is accepted and then generates on a real
 * tiny bundle within seconds with tokens of the vocabulary; prompts at their bounds (empty, 1 MB,
 * control characters, lone surrogates) end with a result or a documented exception.
 */
class ApiBoundsTest {
    private static final double[] DOUBLES = {0, -0.0, -1, Double.MIN_VALUE, 1e-30, 0.5, 1, 1 + 1e-12, 2, 1e30,
        Double.MAX_VALUE, Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY};
    private static final int[] INTS = {Integer.MIN_VALUE, -1, 0, 1, 2, 511, 512, 513, Integer.MAX_VALUE};

    @Test
    void samplingAndGenerationFieldsAtTheirBounds() throws Exception {
        DefaultEngine engine = EngineTestData.engine("tiny-bpe-fp32");
        int vocab = engine.manifest().model().vocabSize();
        List<Function<Double, SamplingOptions>> doubleFields = List.of(
                v -> new SamplingOptions(false, v, 12, 1, 0, 1, 1),
                v -> new SamplingOptions(false, 1, 12, v, 0, 1, 1),
                v -> new SamplingOptions(false, 1, 12, 1, v, 1, 1),
                v -> new SamplingOptions(false, 1, 12, 1, 0, v, 1));
        List<String> names = List.of("temperature", "top_p", "min_p", "repetition_penalty");
        List<SamplingOptions> accepted = new ArrayList<>();
        for (int f = 0; f < doubleFields.size(); f++) {
            for (double v : DOUBLES) {
                try {
                    accepted.add(doubleFields.get(f).apply(v));
                } catch (IllegalArgumentException e) {
                    assertTrue(e.getMessage().startsWith(names.get(f)), e.getMessage());
                }
            }
        }
        for (int k : INTS) {
            try {
                accepted.add(new SamplingOptions(false, 1, k, 1, 0, 1, k));
            } catch (IllegalArgumentException e) {
                assertTrue(e.getMessage().startsWith("top_k"), e.getMessage());
            }
        }
        assertTrue(accepted.size() > 20, "most bounds are legal values: " + accepted.size());
        for (SamplingOptions s : accepted) {
            for (SpeculationMode mode : new SpeculationMode[] {SpeculationMode.OFF, SpeculationMode.AUTO}) {
                GenerationOptions o = new GenerationOptions(6, s, List.of(), false, mode);
                GenerationResult r = assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
                    try (DefaultSession session = engine.newSession()) {
                        return session.generate("hello world", o, null);
                    }
                }, () -> "hung with " + s);
                assertTrue(r.tokenIds().length == 6, s + ": " + r.tokenIds().length + " tokens");
                for (int id : r.tokenIds()) {
                    assertTrue(id >= 0 && id < vocab, s + ": token " + id);
                }
            }
        }
        for (int n : INTS) {
            try {
                GenerationOptions o = new GenerationOptions(n, SamplingOptions.GREEDY, List.of(), false);
                GenerationResult r = assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
                    try (DefaultSession session = engine.newSession()) {
                        return session.generate("hello", o, null);
                    }
                }, () -> "hung with max_new_tokens " + n);
                assertTrue(r.tokenIds().length <= Math.min(n, engine.contextLength()), n + ": " + r.tokenIds().length);
            } catch (IllegalArgumentException e) {
                assertTrue(n < 1 && e.getMessage().startsWith("max_new_tokens"), e.getMessage());
            }
        }
    }

    @Test
    void promptsAtTheirBounds() throws Exception {
        DefaultEngine engine = EngineTestData.engine("tiny-bpe-fp32");
        GenerationOptions o = EngineTestData.greedyNoEos(3);
        for (String prompt : new String[] {"", " ", "\u0000", "\uD800", "\uDC00x", "é😀", "\r\n\t", "x".repeat(1 << 20),
            "<|im_start|>", "\u202e"}) {
            String shown = prompt.length() > 20 ? prompt.length() + " chars" : "'" + prompt + "'";
            assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
                try (DefaultSession session = engine.newSession()) {
                    GenerationResult r = session.generate(prompt, o, null);
                    assertTrue(r.tokenIds().length == 3, shown);
                    assertFalse(r.text() == null, shown);
                } catch (EmptyPromptException | ContextOverflowException expected) {
                    // documented: nothing to continue, or longer than the context
                } catch (RuntimeException e) {
                    fail(shown + ": undocumented " + e);
                }
            }, () -> "hung with prompt " + shown);
        }
    }
}
