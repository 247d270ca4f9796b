package dev.skipper.core;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.SamplingOptions;
import dev.skipper.api.SkipperException;
import dev.skipper.core.tokenizer.TokenizerTestData;
import dev.skipper.runtime.spi.BackendOptions;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The exporter's test cases ({@code -Dskipper.testData=DIR}, located by {@link TokenizerTestData})
 * and engines over them, opened once per JVM and shared by the engine tests.
 */
final class EngineTestData {
    /** Every case with goldens. */
    static final List<String> ALL_CASES =
            List.of("tiny-bpe-fp32", "tiny-spm-int4", "tiny-bpe-fp32-standard", "smollm2-fp32", "smollm2-int4");
    /**
     * Bundles of the default recipe (int4 weights, int8 matmul activations) without reference
     * goldens: their agreement with exact math is statistical, but speculation must still give
     * exactly their own plain decoding (the layer graphs are batch-invariant).
     */
    static final List<String> DEFAULT_RECIPE_CASES = List.of("tiny-spm-int4-int8", "smollm2-int4-int8");
    /** Small, fast cases. */
    static final List<String> TINY_CASES = List.of("tiny-bpe-fp32", "tiny-spm-int4", "tiny-bpe-fp32-standard");
    /** Context of the test engines: every golden prompt plus its tokens fits. */
    static final int CONTEXT = 512;

    private static final Map<String, DefaultEngine> ENGINES = new HashMap<>();

    private EngineTestData() {
    }

    /** One golden prompt: raw chat-formatted text, its ids, the reference's greedy continuation. */
    record Prompt(String text, int[] ids, int[] greedy) {
    }

    /**
     * A case's goldens; {@code nearTies} are the teacher-forced positions whose float64 top-2 margin
     * is within the float32 tie bound (exporters/skipper_export/verify/yardstick.py), where a
     * correct float32 runtime may pick the runner-up.
     */
    record Goldens(int vocabSize, int[] eosIds, List<Prompt> prompts, int[] teacherIds, int[] teacherArgmax,
            Set<Integer> nearTies) {
    }

    /** @return a case's bundle directory (or a skip when the data is missing) */
    static Path bundle(String name) {
        return TokenizerTestData.bundleCaseDir(name).resolve("bundle");
    }

    /**
     * The shared engine of a case (cpu, context {@link #CONTEXT}, hashes verified once). Do not close it.
     *
     * @param name the case
     * @return the engine
     * @throws SkipperException if it cannot be opened
     */
    static synchronized DefaultEngine engine(String name) throws SkipperException {
        DefaultEngine e = ENGINES.get(name);
        if (e == null) {
            e = Skipper.open(bundle(name), BackendOptions.DEFAULTS, List.of("cpu"), CONTEXT);
            ENGINES.put(name, e);
        }
        return e;
    }

    /**
     * Reads a case's goldens.
     *
     * @param name the case
     * @return them
     */
    static Goldens goldens(String name) {
        Path file = TokenizerTestData.caseDir(name).resolve("goldens.json");
        JsonObject json;
        try {
            json = JsonParser.parseString(Files.readString(file, StandardCharsets.UTF_8)).getAsJsonObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<Prompt> prompts = new ArrayList<>();
        for (JsonElement p : json.getAsJsonArray("prompts")) {
            JsonObject o = p.getAsJsonObject();
            prompts.add(new Prompt(o.get("text").getAsString(), TokenizerTestData.ints(o.getAsJsonArray("ids")),
                    TokenizerTestData.ints(o.getAsJsonArray("greedy"))));
        }
        JsonObject tf = json.getAsJsonObject("teacher_forced");
        return new Goldens(json.get("vocab_size").getAsInt(), TokenizerTestData.ints(json.getAsJsonArray("eos_ids")),
                prompts, TokenizerTestData.ints(tf.getAsJsonArray("ids")),
                TokenizerTestData.ints(tf.getAsJsonArray("argmax")),
                Arrays.stream(TokenizerTestData.ints(tf.getAsJsonArray("near_ties"))).boxed()
                        .collect(Collectors.toUnmodifiableSet()));
    }

    /**
     * Greedy decoding of exactly {@code n} tokens (no EOS stop, no stop strings).
     *
     * @param n tokens
     * @return the options
     */
    static GenerationOptions greedyNoEos(int n) {
        return new GenerationOptions(n, SamplingOptions.GREEDY, List.of(), false);
    }
}
