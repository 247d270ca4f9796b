package dev.skipper.api;

/**
 * Timing and size figures of one generation.
 *
 * @param promptTokens tokens of the prompt that were run through the model (cached turns excluded)
 * @param generatedTokens tokens produced
 * @param ttftMillis time from the call to the first generated token
 * @param prefillTokensPerSecond prompt tokens per second of prefill
 * @param decodeTokensPerSecond generated tokens per second after the first
 * @param speculation what speculative decoding did ({@link SpeculationStats#NONE} when off)
 * @param adaptiveDepth what lossy adaptive depth did ({@link AdaptiveDepthStats#NONE} when off)
 */
public record GenerationStats(int promptTokens, int generatedTokens, double ttftMillis,
                              double prefillTokensPerSecond, double decodeTokensPerSecond,
                              SpeculationStats speculation, AdaptiveDepthStats adaptiveDepth) {

    /** Checks that {@code speculation} and {@code adaptiveDepth} are given. */
    public GenerationStats {
        java.util.Objects.requireNonNull(speculation, "speculation");
        java.util.Objects.requireNonNull(adaptiveDepth, "adaptiveDepth");
    }

    /**
     * Stats without adaptive depth.
     *
     * @param promptTokens prompt tokens run
     * @param generatedTokens tokens produced
     * @param ttftMillis time to the first token
     * @param prefillTokensPerSecond prefill rate
     * @param decodeTokensPerSecond decode rate
     * @param speculation what speculative decoding did
     */
    public GenerationStats(int promptTokens, int generatedTokens, double ttftMillis, double prefillTokensPerSecond,
                           double decodeTokensPerSecond, SpeculationStats speculation) {
        this(promptTokens, generatedTokens, ttftMillis, prefillTokensPerSecond, decodeTokensPerSecond, speculation,
                AdaptiveDepthStats.NONE);
    }

    /**
     * Stats without speculation.
     *
     * @param promptTokens prompt tokens run
     * @param generatedTokens tokens produced
     * @param ttftMillis time to the first token
     * @param prefillTokensPerSecond prefill rate
     * @param decodeTokensPerSecond decode rate
     */
    public GenerationStats(int promptTokens, int generatedTokens, double ttftMillis, double prefillTokensPerSecond,
                           double decodeTokensPerSecond) {
        this(promptTokens, generatedTokens, ttftMillis, prefillTokensPerSecond, decodeTokensPerSecond,
                SpeculationStats.NONE);
    }
}
