package dev.skipper.core;

import dev.skipper.api.ContextOverflowException;
import dev.skipper.api.ScoreResult;
import dev.skipper.api.SkipperException;
import dev.skipper.runtime.spi.HiddenStates;
import dev.skipper.runtime.spi.KvCache;
import dev.skipper.runtime.spi.ModelRunner;

/**
 * Teacher-forced scoring: runs a token sequence through the model in chunks and reads, at every
 * position, the most likely next token and the log-probability of the actual next token.
 *
 * <p>Uses a temporary KV cache sized for the text, so the session's conversation is untouched;
 * borrows the session's hidden-state rows as working memory. Not thread-safe.
 */
final class TeacherForcedScorer {
    private final ModelRunner runner;
    private final int numLayers;
    private final int vocab;

    /**
     * @param runner the engine's runner
     */
    TeacherForcedScorer(ModelRunner runner) {
        this.runner = runner;
        this.numLayers = runner.manifest().model().numLayers();
        this.vocab = runner.manifest().model().vocabSize();
    }

    /**
     * Scores {@code ids}.
     *
     * @param ids the tokens, such as an encoded text
     * @param contextLength the longest sequence allowed
     * @param hidden working rows; chunks are {@code hidden.maxTokens()} tokens
     * @return argmax and log-probability for positions {@code 0 .. n-2}, and the perplexity
     *     ({@code NaN} for fewer than two tokens)
     * @throws ContextOverflowException if {@code ids} is longer than {@code contextLength}
     * @throws SkipperException on a backend failure
     */
    ScoreResult score(int[] ids, int contextLength, HiddenStates hidden) throws SkipperException {
        if (ids.length > contextLength) {
            throw new ContextOverflowException(ids.length, contextLength);
        }
        int positions = Math.max(ids.length - 1, 0); // the last token predicts nothing we can check
        int[] argmax = new int[positions];
        double[] logprobs = new double[positions];
        if (positions == 0) {
            return new ScoreResult(ids, argmax, logprobs, Double.NaN);
        }
        int chunk = hidden.maxTokens();
        float[] logits = new float[chunk * vocab]; // [chunk][vocab]
        double sum = 0;
        try (KvCache cache = runner.newKvCache(positions)) {
            for (int start = 0; start < positions; start += chunk) {
                int count = Math.min(chunk, positions - start);
                runner.embed(ids, start, count, hidden);
                for (int layer = 0; layer < numLayers; layer++) {
                    runner.layer(layer, hidden, count, cache);
                }
                runner.head(hidden, 0, count, logits);
                for (int row = 0; row < count; row++) {
                    int position = start + row;
                    argmax[position] = argmax(logits, row * vocab);
                    logprobs[position] = dev.skipper.core.sampling.Sampler.logSoftmaxAt(logits, row * vocab, vocab,
                            ids[position + 1]);
                    sum += logprobs[position];
                }
            }
        }
        return new ScoreResult(ids, argmax, logprobs, Math.exp(-sum / positions));
    }

    /** Index of the first maximum of {@code logits[offset, offset + vocab)}, relative to the row. */
    private int argmax(float[] logits, int offset) {
        int best = 0;
        float max = logits[offset];
        for (int i = 1; i < vocab; i++) {
            if (logits[offset + i] > max) {
                max = logits[offset + i];
                best = i;
            }
        }
        return best;
    }
}
