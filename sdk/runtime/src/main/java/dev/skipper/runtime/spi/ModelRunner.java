package dev.skipper.runtime.spi;

import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;

/**
 * The per-graph primitives a backend runs for one loaded bundle. The decode loop and speculative
 * decoding in {@code sdk/core} are written against this interface only.
 *
 * <p>Thread safety: one runner is shared by every session of an engine and must accept concurrent
 * calls on different {@link KvCache}/{@link HiddenStates} pairs.
 */
public interface ModelRunner extends AutoCloseable {
    /** @return the bundle's manifest */
    BundleManifest manifest();

    /**
     * @param maxSeq capacity in tokens (&lt;= the model's max_position)
     * @return a new, empty cache
     * @throws SkipperException if it cannot be allocated
     */
    KvCache newKvCache(int maxSeq) throws SkipperException;

    /**
     * @param maxTokens rows (the most tokens one call will process)
     * @return a new buffer
     * @throws SkipperException if it cannot be allocated
     */
    HiddenStates newHiddenStates(int maxTokens) throws SkipperException;

    /**
     * Embeds {@code count} tokens into rows {@code [0, count)} of {@code out}.
     *
     * @param tokens token ids
     * @param offset first index in {@code tokens}
     * @param count tokens, 1 .. out.maxTokens()
     * @param out destination
     * @throws SkipperException on a runtime failure
     */
    void embed(int[] tokens, int offset, int count, HiddenStates out) throws SkipperException;

    /**
     * Runs decoder layer {@code layer} in place over rows {@code [0, count)} of {@code hidden}: the
     * tokens sit at positions {@code cache.length(layer) ..}; their K/V are appended to the cache and
     * that layer's length grows by {@code count}.
     *
     * @param layer layer index
     * @param hidden rows to transform
     * @param count rows
     * @param cache the sequence's cache
     * @throws SkipperException on a runtime failure or when the cache is full
     */
    void layer(int layer, HiddenStates hidden, int count, KvCache cache) throws SkipperException;

    /**
     * Final norm + LM head over rows {@code [row, row + count)}, from any layer's hidden state.
     *
     * @param hidden source rows
     * @param row first row
     * @param count rows
     * @param logits destination {@code [count][vocab]}, length &gt;= count * vocab
     * @throws SkipperException on a runtime failure
     */
    void head(HiddenStates hidden, int row, int count, float[] logits) throws SkipperException;

    /**
     * Copies rows between two hidden-state buffers of this runner (a drafter hands the hidden
     * states it computed to the verification batch).
     *
     * @param from source
     * @param fromRow first source row
     * @param to destination (may be {@code from} only for non-overlapping rows)
     * @param toRow first destination row
     * @param count rows, &gt;= 1
     */
    void copyRows(HiddenStates from, int fromRow, HiddenStates to, int toRow, int count);

    /**
     * Whether the bundle has K/V-only graphs ({@code graphs.kv_fill}) and {@link #fillKv} works.
     *
     * @return true when it does
     */
    default boolean hasKvFill() {
        return false;
    }

    /**
     * Layer {@code layer}'s K/V only, for rows {@code [0, count)} of {@code hidden} taken as that
     * layer's input: appended to the cache like {@link #layer} would (the layer's length grows by
     * {@code count}); {@code hidden} is not changed. Lossy adaptive depth fills the layers a token
     * skipped after exiting early with its exit hidden state (CALM-style propagation).
     *
     * @param layer layer index
     * @param hidden rows
     * @param count rows
     * @param cache the sequence's cache
     * @throws SkipperException on a runtime failure or when the cache is full
     * @throws UnsupportedOperationException when {@link #hasKvFill()} is false
     */
    default void fillKv(int layer, HiddenStates hidden, int count, KvCache cache) throws SkipperException {
        throw new UnsupportedOperationException("this runner has no K/V-only graphs");
    }

    /**
     * Whether this runner loaded the bundle's calibrated exit heads ({@code draft_heads} in the
     * manifest): {@link #exitHead}, {@link #draftHead} and {@link #draftVocabulary} work only then.
     *
     * @return true when exit heads are available
     */
    default boolean hasDraftHeads() {
        return false;
    }

    /**
     * Exit head after {@code exitLayer} layers, in place over rows {@code [0, count)}: the adapter
     * maps each row into the final layer's space (what {@link #head} and {@link #draftHead} read)
     * and the router writes the probability that the draft head's top-1 equals the full model's.
     *
     * @param exitLayer a calibrated exit layer (manifest {@code draft_heads.exits[].layer})
     * @param hidden rows after layer {@code exitLayer - 1}; replaced by the adapted rows
     * @param count rows
     * @param accept destination {@code [count]} of router probabilities
     * @throws SkipperException on a runtime failure
     * @throws UnsupportedOperationException when {@link #hasDraftHeads()} is false
     */
    default void exitHead(int exitLayer, HiddenStates hidden, int count, float[] accept) throws SkipperException {
        throw new UnsupportedOperationException("this runner has no exit heads");
    }

    /**
     * Draft head over rows {@code [0, count)}: logits over the draft vocabulary only.
     *
     * @param hidden adapted rows (after {@link #exitHead})
     * @param count rows
     * @param logits destination {@code [count][draftVocabulary().length]}
     * @throws SkipperException on a runtime failure
     * @throws UnsupportedOperationException when {@link #hasDraftHeads()} is false
     */
    default void draftHead(HiddenStates hidden, int count, float[] logits) throws SkipperException {
        throw new UnsupportedOperationException("this runner has no draft head");
    }

    /**
     * @return the draft vocabulary: column {@code i} of {@link #draftHead}'s logits scores token
     *     {@code draftVocabulary()[i]}; a copy
     * @throws UnsupportedOperationException when {@link #hasDraftHeads()} is false
     */
    default int[] draftVocabulary() {
        throw new UnsupportedOperationException("this runner has no draft vocabulary");
    }

    /**
     * Whether this runner loaded the bundle's trained feature drafter ({@code feature_drafter} in
     * the manifest): {@link #newFeatureDrafterCache} and {@link #featureDraft} work only then.
     *
     * @return true when the feature drafter is available
     */
    default boolean hasFeatureDrafter() {
        return false;
    }

    /**
     * A one-layer cache for the feature drafter of one sequence (same layout as the model's).
     *
     * @param maxSeq capacity in positions
     * @return a new, empty cache
     * @throws SkipperException when it cannot be allocated
     * @throws UnsupportedOperationException when {@link #hasFeatureDrafter()} is false
     */
    default KvCache newFeatureDrafterCache(int maxSeq) throws SkipperException {
        throw new UnsupportedOperationException("this runner has no feature drafter");
    }

    /**
     * The feature drafter over {@code count} positions appended to its cache: position i reads the
     * feature row {@code featureRow + i} of {@code features} (the target's last-layer output at the
     * previous position, or the drafter's own prediction) and row i of {@code embedded} (the token's
     * embedding), and writes its predicted feature into row i of {@code out} and its draft-vocabulary
     * logits into {@code logits[i * N ..]}.
     *
     * @param features feature rows
     * @param featureRow first feature row
     * @param embedded rows {@code [0, count)}: embeddings ({@link #embed})
     * @param count positions
     * @param drafterCache a cache from {@link #newFeatureDrafterCache}
     * @param out rows {@code [0, count)} receive the predicted features; another buffer than the inputs
     * @param logits destination {@code [count][draftVocabulary().length]}
     * @throws SkipperException on a runtime failure or a full cache
     * @throws UnsupportedOperationException when {@link #hasFeatureDrafter()} is false
     */
    default void featureDraft(HiddenStates features, int featureRow, HiddenStates embedded, int count,
                              KvCache drafterCache, HiddenStates out, float[] logits) throws SkipperException {
        throw new UnsupportedOperationException("this runner has no feature drafter");
    }

    /**
     * Nanoseconds this runner has spent inside the backend runtime's own calls (e.g.
     * {@code OrtSession.run}), summed over all threads since it was opened: with wall time it splits
     * a decode step into runtime time and Java-side overhead.
     *
     * @return the sum, or -1 when the backend does not measure it
     */
    default long nativeNanos() {
        return -1;
    }

    /** Closes every native object of the runner; idempotent. */
    @Override
    void close();
}
