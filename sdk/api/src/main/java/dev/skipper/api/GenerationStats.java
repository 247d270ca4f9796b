package dev.skipper.api;

/**
 * Timing and size figures of one generation.
 *
 * @param promptTokens tokens of the prompt that were run through the model (cached turns excluded)
 * @param generatedTokens tokens produced
 * @param ttftMillis time from the call to the first generated token
 * @param prefillTokensPerSecond prompt tokens per second of prefill
 * @param decodeTokensPerSecond generated tokens per second after the first
 */
public record GenerationStats(int promptTokens, int generatedTokens, double ttftMillis,
                              double prefillTokensPerSecond, double decodeTokensPerSecond) {}
