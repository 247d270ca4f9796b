package dev.skipper.core.speculation;

import dev.skipper.api.SamplingOptions;
import dev.skipper.api.SkipperException;
import dev.skipper.core.sampling.RecentTokens;
import dev.skipper.core.sampling.Sampler;
import dev.skipper.runtime.spi.KvCache;

/**
 * Proposes the tokens that follow the pending token, cheaper than the full model does.
 *
 * <p>On entry the sequence's tokens are {@code tokens[0, length)}; the last of them is the pending
 * token (known, not yet in the cache), so every layer's cache holds {@code length - 1} rows. A
 * drafter may append rows to the cache (the verifier drops every inexact one) and must leave
 * {@code recent} as it found it.
 */
public interface Drafter {
    /** @return a short name for stats and logs, such as {@code ngram} */
    String name();

    /**
     * Drafts up to {@code max} tokens into {@code batch}.
     *
     * @param tokens the sequence's tokens
     * @param length tokens known; {@code tokens[length-1]} is the pending token
     * @param max most drafts, 1 .. batch.capacity
     * @param cache the sequence's cache ({@code length - 1} rows in every layer)
     * @param sampling how tokens are chosen (drafts follow the same processing)
     * @param sampler the session's sampler
     * @param recent the repetition-penalty window over {@code tokens[0, length)}
     * @param batch receives the drafts; {@link DraftBatch#clear()}ed by the caller
     * @throws SkipperException on a backend failure
     */
    void draft(int[] tokens, int length, int max, KvCache cache, SamplingOptions sampling, Sampler sampler,
               RecentTokens recent, DraftBatch batch) throws SkipperException;
}
