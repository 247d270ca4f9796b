package dev.skipper.api;

import java.util.List;

/**
 * Options of one generation request.
 *
 * @param maxNewTokens at most this many tokens are generated (&gt;= 1)
 * @param sampling how tokens are chosen
 * @param stopStrings generation ends before any of these strings (matched across token boundaries,
 *     never emitted)
 * @param stopAtEos end at the bundle's end-of-sequence tokens
 */
public record GenerationOptions(int maxNewTokens, SamplingOptions sampling, List<String> stopStrings, boolean stopAtEos) {

    /** Validates and copies. */
    public GenerationOptions {
        if (maxNewTokens < 1) {
            throw new IllegalArgumentException("max_new_tokens must be >= 1, got " + maxNewTokens);
        }
        if (sampling == null) {
            throw new IllegalArgumentException("sampling must not be null");
        }
        stopStrings = List.copyOf(stopStrings);
        for (String s : stopStrings) {
            if (s.isEmpty()) {
                throw new IllegalArgumentException("stop strings must not be empty");
            }
        }
    }

    /**
     * Greedy decoding of up to {@code maxNewTokens} tokens, stopping at EOS.
     *
     * @param maxNewTokens the limit
     * @return the options
     */
    public static GenerationOptions greedy(int maxNewTokens) {
        return new GenerationOptions(maxNewTokens, SamplingOptions.GREEDY, List.of(), true);
    }
}
