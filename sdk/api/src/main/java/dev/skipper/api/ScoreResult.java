package dev.skipper.api;

/**
 * Teacher-forced scores of a text.
 *
 * @param tokens the text's token ids
 * @param argmax for positions 0..n-2, the model's most likely next token
 * @param logprobs for positions 0..n-2, the log-probability of the actual next token
 * @param perplexity exp(-mean(logprobs))
 */
public record ScoreResult(int[] tokens, int[] argmax, double[] logprobs, double perplexity) {
    /** Copies the arrays. */
    public ScoreResult {
        tokens = tokens.clone();
        argmax = argmax.clone();
        logprobs = logprobs.clone();
    }
}
