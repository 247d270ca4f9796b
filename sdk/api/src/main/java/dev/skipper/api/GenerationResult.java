package dev.skipper.api;

import java.util.Arrays;

/**
 * The outcome of one generation.
 *
 * @param text generated text (stop strings excluded)
 * @param tokenIds generated token ids
 * @param finishReason why generation ended
 * @param stats timing figures
 */
public record GenerationResult(String text, int[] tokenIds, FinishReason finishReason, GenerationStats stats) {
    /** Copies {@code tokenIds} so the record stays immutable. */
    public GenerationResult {
        tokenIds = tokenIds.clone();
    }

    @Override
    public int[] tokenIds() {
        return tokenIds.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GenerationResult r && text.equals(r.text) && Arrays.equals(tokenIds, r.tokenIds)
                && finishReason == r.finishReason && stats.equals(r.stats);
    }

    @Override
    public int hashCode() {
        return 31 * text.hashCode() + Arrays.hashCode(tokenIds);
    }

    @Override
    public String toString() {
        return "GenerationResult[text=" + text + ", tokens=" + tokenIds.length + ", finishReason=" + finishReason
                + ", stats=" + stats + "]";
    }
}
