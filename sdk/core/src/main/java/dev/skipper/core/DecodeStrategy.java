package dev.skipper.core;

import dev.skipper.api.AdaptiveDepthStats;
import dev.skipper.api.SamplingOptions;
import dev.skipper.api.SkipperException;
import dev.skipper.api.SpeculationStats;

/**
 * How a request produces the tokens after its first one: {@link PlainDecoding} (one full step per
 * token), {@link SpeculativeDecoder} (draft-then-verify rounds, lossless) or
 * {@link AdaptiveDepthDecoding} (router exits, lossy, opt-in). {@link DecodeLoop} runs every one the
 * same way and knows none of them.
 *
 * <p>Each step starts with exactly one pending token (known, not in the cache) and ends the same
 * way: it runs the pending token and appends the tokens it produces to the sequence, the last one
 * pending. Not thread-safe: one per session.
 */
sealed interface DecodeStrategy extends AutoCloseable permits PlainDecoding, SpeculativeDecoder, AdaptiveDepthDecoding {
    /**
     * The hook that watches the prompt's layer inputs during prefill (FiRST routers, adaptive
     * depth's routers), or null.
     *
     * @return the hook, or null
     */
    default Sequence.LayerInputs promptObserver() {
        return null;
    }

    /** @return whether it drafts with the feature drafter, which reads the sequence's feature store */
    default boolean usesFeatures() {
        return false;
    }

    /** Starts a request, after its prefill: clears the per-request stats. */
    void begin();

    /** @return most tokens one {@link #step} can produce */
    default int maxTokensPerStep() {
        return 1;
    }

    /**
     * Produces the next tokens.
     *
     * @param sampling the request's sampling
     * @param budget most tokens to produce, &gt;= 1
     * @param out receives the produced tokens
     * @return tokens produced, 1 .. budget
     * @throws SkipperException on a backend failure or bad logits
     */
    int step(SamplingOptions sampling, int budget, int[] out) throws SkipperException;

    /**
     * @param generated tokens the request produced
     * @return the request's speculation stats ({@link SpeculationStats#NONE} when not speculative)
     */
    default SpeculationStats speculationStats(int generated) {
        return SpeculationStats.NONE;
    }

    /** @return the request's adaptive-depth stats ({@link AdaptiveDepthStats#NONE} when exact) */
    default AdaptiveDepthStats adaptiveDepthStats() {
        return AdaptiveDepthStats.NONE;
    }

    /** Forgets what it learnt about the session (the session was reset). */
    default void reset() {
    }

    /** Frees its buffers. */
    @Override
    default void close() {
    }
}
