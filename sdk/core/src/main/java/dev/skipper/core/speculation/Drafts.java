package dev.skipper.core.speculation;

import dev.skipper.api.SkipperException;
import dev.skipper.runtime.spi.HiddenStates;
import dev.skipper.runtime.spi.ModelRunner;

/**
 * The buffers of one speculative round, allocated once per session and reused by every round.
 *
 * <p>A drafter fills {@link #drafts} (and, when sampling, {@link #q}) and, when it ran the model's
 * leading layers exactly, the layer-{@code exactLayers} hidden state of every input it ran into
 * rows {@code [0, count)} of {@link #verifyHidden}: the pending token's at row 0, draft i's at row
 * i+1. The verifier extends the batch with the last draft and runs the rest of the model over it.
 */
public final class DraftBatch implements AutoCloseable {
    /** Most drafts one round can hold. */
    public final int capacity;
    /** {@code [capacity]} drafted token ids; {@code [0, count)} valid. */
    public final int[] drafts;
    /**
     * {@code [capacity][vocab]} the distribution each draft was sampled from (sampling only);
     * unused when {@link #deterministic}.
     */
    public final float[] q;
    /** {@code [capacity+1][hidden]} verification rows: inputs' hidden states at layer exactLayers. */
    public final HiddenStates verifyHidden;
    /** {@code [1][hidden]} the drafter's working row. */
    public final HiddenStates draftHidden;
    /** {@code [vocab]} the drafter's logits. */
    public final float[] draftLogits;
    /** {@code [1]} the token a drafter embeds next (no array per call). */
    public final int[] input = new int[1];

    /** Drafts proposed this round. */
    public int count;
    /** Whether each draft was a fixed choice (q one-hot at the draft), as prompt lookup's are. */
    public boolean deterministic;
    /** Leading layers whose KV the drafter wrote exactly for the inputs it ran (0: none). */
    public int exactLayers;
    /** Decoder-layer executions the drafter spent this round (for the stats). */
    public long layerRuns;

    /**
     * @param runner the engine's runner
     * @param capacity most drafts per round
     * @param withQ whether to allocate the draft distributions (sampling)
     * @throws SkipperException if the backend cannot allocate the hidden states
     */
    public DraftBatch(ModelRunner runner, int capacity, boolean withQ) throws SkipperException {
        int vocab = runner.manifest().model().vocabSize();
        this.capacity = capacity;
        this.drafts = new int[capacity];
        this.q = withQ ? new float[Math.multiplyExact(capacity, vocab)] : new float[0];
        this.draftLogits = new float[vocab];
        HiddenStates verify = runner.newHiddenStates(capacity + 1);
        try {
            this.draftHidden = runner.newHiddenStates(1);
        } catch (SkipperException | RuntimeException e) {
            verify.close();
            throw e;
        }
        this.verifyHidden = verify;
    }

    private DraftBatch(int capacity) {
        this.capacity = capacity;
        this.drafts = new int[capacity];
        this.q = new float[0];
        this.draftLogits = new float[0];
        this.verifyHidden = null;
        this.draftHidden = null;
    }

    /**
     * A batch without model buffers, for drafters that run no model (tests).
     *
     * @param capacity most drafts
     * @return the batch
     */
    static DraftBatch forTests(int capacity) {
        return new DraftBatch(capacity);
    }

    /** Starts a round. */
    public void clear() {
        count = 0;
        deterministic = false;
        exactLayers = 0;
        layerRuns = 0;
    }

    /** @return whether q rows were allocated */
    public boolean hasQ() {
        return q.length > 0;
    }

    @Override
    public void close() {
        try {
            if (verifyHidden != null) {
                verifyHidden.close();
            }
        } finally {
            if (draftHidden != null) {
                draftHidden.close();
            }
        }
    }
}
