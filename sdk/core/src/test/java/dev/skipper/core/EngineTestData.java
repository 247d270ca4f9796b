package dev.skipper.core;

import dev.skipper.api.GenerationOptions;
import dev.skipper.api.SamplingOptions;
import dev.skipper.api.SkipperException;
import dev.skipper.core.tokenizer.TokenizerTestData;
import dev.skipper.runtime.spi.BackendOptions;
import dev.skipper.testing.Goldens;
import dev.skipper.testing.TestData;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The exporter's test cases ({@code -Dskipper.testData=DIR}, located by {@link dev.skipper.testing.TestData})
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

    /** @return a case's bundle directory (or a skip when the data is missing) */
    static Path bundle(String name) {
        return TestData.bundle(name);
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
     * Reads a case's goldens ({@link TestData#goldens}).
     *
     * @param name the case
     * @return them
     */
    static Goldens goldens(String name) {
        return TestData.goldens(name);
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

    /**
     * Plain greedy decoding on a bare sequence: the reference tokens of decoder-level tests.
     *
     * @param seq the sequence (rewound to empty first)
     * @param sampler its sampler
     * @param prompt prompt tokens
     * @param n tokens to generate
     * @return the {@code n} tokens after the prompt
     */
    static int[] plainGreedy(Sequence seq, dev.skipper.core.sampling.Sampler sampler, int[] prompt, int n)
            throws SkipperException {
        seq.rewind(0);
        seq.append(prompt, 0, prompt.length);
        seq.run(null);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = seq.sampleNext(sampler, dev.skipper.api.SamplingOptions.GREEDY);
            seq.append(out[i]);
            seq.run(null);
        }
        return out;
    }

    /**
     * Prefills {@code prompt} on a rewound sequence and appends its greedy next token, left pending:
     * the state a decode strategy's first step starts from.
     *
     * @return that token
     */
    static int prefillGreedy(Sequence seq, dev.skipper.core.sampling.Sampler sampler, int[] prompt)
            throws SkipperException {
        seq.rewind(0);
        seq.append(prompt, 0, prompt.length);
        seq.run(null);
        int token = seq.sampleNext(sampler, dev.skipper.api.SamplingOptions.GREEDY);
        seq.append(token);
        return token;
    }

    /**
     * Runs greedy steps of {@code strategy} until {@code until} tokens are in {@code got}.
     *
     * @param got tokens so far (room for a step's worth past {@code until})
     * @param n how many {@code got} holds
     * @return how many it holds now (at least {@code until})
     */
    static int decodeGreedy(DecodeStrategy strategy, int[] got, int n, int until) throws SkipperException {
        int[] step = new int[strategy.maxTokensPerStep()];
        while (n < until) {
            int k = strategy.step(dev.skipper.api.SamplingOptions.GREEDY, until - n, step);
            System.arraycopy(step, 0, got, n, k);
            n += k;
        }
        return n;
    }
}
