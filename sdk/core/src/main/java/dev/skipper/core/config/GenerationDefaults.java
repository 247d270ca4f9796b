package dev.skipper.core.config;

import dev.skipper.api.GenerationOptions;
import dev.skipper.api.SamplingOptions;
import java.util.List;
import java.util.Objects;

/**
 * Generation settings a deployment uses when a request does not say otherwise.
 *
 * @param maxNewTokens most tokens generated per request, 1 to {@value #MAX_NEW_TOKENS_LIMIT}
 *     (default {@value #DEFAULT_MAX_NEW_TOKENS})
 * @param sampling how tokens are chosen (default {@link SamplingOptions#GREEDY})
 * @param stop stop strings, each non-empty (default none)
 */
public record GenerationDefaults(int maxNewTokens, SamplingOptions sampling, List<String> stop) {

    /** Default of {@link #maxNewTokens()}. */
    public static final int DEFAULT_MAX_NEW_TOKENS = 256;

    /** Largest {@link #maxNewTokens()} accepted (a guard against typos, not a model limit). */
    public static final int MAX_NEW_TOKENS_LIMIT = 1 << 20;

    /** Everything at its default. */
    public static final GenerationDefaults DEFAULTS =
            new GenerationDefaults(DEFAULT_MAX_NEW_TOKENS, SamplingOptions.GREEDY, List.of());

    /** Validates and copies {@code stop}. */
    public GenerationDefaults {
        if (maxNewTokens < 1 || maxNewTokens > MAX_NEW_TOKENS_LIMIT) {
            throw new IllegalArgumentException("max_new_tokens must be in [1, " + MAX_NEW_TOKENS_LIMIT
                    + "], got " + maxNewTokens);
        }
        Objects.requireNonNull(sampling, "sampling");
        stop = List.copyOf(stop);
        for (String s : stop) {
            if (s.isEmpty()) {
                throw new IllegalArgumentException("stop strings must not be empty");
            }
        }
    }

    /**
     * The request options these defaults stand for.
     *
     * @return options with these values, stopping at end-of-sequence tokens
     */
    public GenerationOptions toOptions() {
        return new GenerationOptions(maxNewTokens, sampling, stop, true);
    }
}
