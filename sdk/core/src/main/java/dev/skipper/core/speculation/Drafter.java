package dev.skipper.core.speculation;

import dev.skipper.api.SkipperException;

/**
 * Proposes the tokens that follow the pending token, cheaper than the full model does: the one
 * interface every drafting method implements (prompt lookup, early exit and layer skipping, exit
 * heads, and trained draft heads), in the spirit of llama.cpp's {@code common/speculative.h}.
 *
 * <ul>
 *   <li>Tokens: {@link Drafts#add}. Their distribution q (for exact sampling): fill
 *       {@link Drafts#q()} at {@link Drafts#qOffset} before each add, or declare the drafts fixed
 *       choices with {@link Drafts#proposeFixed()}.
 *   <li>Layer reuse (a capability): a drafter that ran the first E layers exactly declares it with
 *       {@link Drafts#reuseLayers} and leaves the layer-E hidden states in
 *       {@link Drafts#verifyRows()}; the verifier then runs only the layers after E over the batch.
 *   <li>A drafter may append rows to the cache (the verifier drops every inexact one) and must leave
 *       {@link DraftContext#recent()} as it found it.
 * </ul>
 *
 * <p>The round, the verifier and the adaptive controller do not depend on the drafter's kind.
 */
public interface Drafter extends AutoCloseable {
    /** @return a short name for stats and logs, such as {@code ngram} */
    String name();

    /**
     * Whether drafting runs the model. A drafter that does not (prompt lookup) is free: the round
     * tries it first and moves on to the next drafter when it proposes nothing.
     *
     * @return true when it runs model layers or heads
     */
    default boolean runsModel() {
        return true;
    }

    /**
     * Whether the drafter chooses each round's length itself (from its own calibrated confidence
     * against the costs in {@link DraftContext#verifyRowCost()}), and may propose nothing when no draft is worth
     * verifying. The adaptive controller then gives it the whole budget and judges its rounds.
     *
     * @return true for a self-limiting drafter
     */
    default boolean limitsItself() {
        return false;
    }

    /**
     * One-time work before a round's timed {@link #propose} (a drafter that reads the model's
     * features catches up over a new prompt here), so the controller's per-draft cost is what a
     * round costs from now on. Rows it appends to its own state stay exact.
     *
     * @param context the sequence, cache and sampling of this round
     * @throws SkipperException on a backend failure
     */
    default void prepare(DraftContext context) throws SkipperException {
    }

    /**
     * Proposes up to {@code max} tokens.
     *
     * @param context the sequence, cache and sampling of this round
     * @param max most drafts, 1 .. out.capacity()
     * @param out receives the drafts; cleared by the caller
     * @throws SkipperException on a backend failure
     */
    void propose(DraftContext context, int max, Drafts out) throws SkipperException;

    /** Frees the drafter's own buffers; idempotent. */
    @Override
    default void close() {
    }
}
