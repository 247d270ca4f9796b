package dev.skipper.core.speculation;

import dev.skipper.api.SkipperException;
import dev.skipper.runtime.spi.HiddenStates;
import dev.skipper.runtime.spi.ModelRunner;

/**
 * What a {@link Drafter} proposes in one round, in buffers allocated once per session: the drafted
 * tokens, optionally the distribution each was drawn from, and optionally the hidden states of the
 * layers it ran exactly (so the verifier need not run them again).
 *
 * <p>A drafter writes only through the public methods; the round and the {@link Verifier} read the
 * rest. Not thread-safe: one per session.
 */
public final class Drafts implements AutoCloseable {
    private final int capacity;
    private final int vocab;
    private final int[] tokens;          // [capacity] drafted token ids; [0, count) valid
    private final float[] q;             // [capacity][vocab] each draft's distribution (sampling), or empty
    private final HiddenStates verifyRows; // [capacity+1][hidden] inputs' hidden states at layer exactLayers, or null

    private int count;
    private boolean deterministic;
    private int exactLayers;
    private long layerRuns;

    /**
     * @param runner the engine's runner
     * @param capacity most drafts per round
     * @param withQ whether to allocate the draft distributions (sampling)
     * @throws SkipperException if the backend cannot allocate the hidden states
     */
    public Drafts(ModelRunner runner, int capacity, boolean withQ) throws SkipperException {
        this(capacity, runner.manifest().model().vocabSize(), withQ, runner.newHiddenStates(capacity + 1));
    }

    private Drafts(int capacity, int vocab, boolean withQ, HiddenStates verifyRows) {
        if (capacity < 1) {
            throw new IllegalArgumentException("a round needs room for at least 1 draft, got " + capacity);
        }
        this.capacity = capacity;
        this.vocab = vocab;
        this.tokens = new int[capacity];
        this.q = withQ ? new float[Math.multiplyExact(capacity, vocab)] : new float[0];
        this.verifyRows = verifyRows;
    }

    /**
     * Drafts without model buffers, for drafters that run no model (tests).
     *
     * @param capacity most drafts
     * @return the buffers
     */
    static Drafts forTests(int capacity) {
        return new Drafts(capacity, 0, false, null);
    }

    // ---- what a drafter writes ------------------------------------------------------------------

    /** @return most drafts one round can hold */
    public int capacity() {
        return capacity;
    }

    /** @return drafts proposed so far this round */
    public int count() {
        return count;
    }

    /**
     * Appends a draft. With {@link #hasQ()} and a sampled request, row {@link #qOffset} of
     * {@link #q()} must already hold the distribution it was drawn from, unless the round is
     * {@link #proposeFixed() fixed}.
     *
     * @param token the drafted token id
     * @throws IllegalStateException when the round is full
     */
    public void add(int token) {
        if (count == capacity) {
            throw new IllegalStateException("the round holds at most " + capacity + " drafts");
        }
        tokens[count++] = token;
    }

    /**
     * Declares this round's drafts fixed choices (q one-hot at each draft), as copied text is: the
     * verifier then needs no distribution (prompt lookup).
     */
    public void proposeFixed() {
        deterministic = true;
    }

    /** @return whether draft distributions were allocated (the session may sample) */
    public boolean hasQ() {
        return q.length > 0;
    }

    /** @return the {@code [capacity][vocab]} distribution rows (empty without {@link #hasQ()}) */
    public float[] q() {
        return q;
    }

    /**
     * @param draft a draft index
     * @return where draft {@code draft}'s distribution starts in {@link #q()}
     */
    public int qOffset(int draft) {
        return draft * vocab;
    }

    /**
     * Layer reuse: declares that the drafter ran the model's first {@code layers} layers exactly
     * for every input it ran (the pending token, then each draft but the last) and put their
     * layer-{@code layers} hidden states into {@link #verifyRows()}: the pending token's at row 0,
     * draft i's at row i+1. Their K/V in those layers are then kept as they are.
     *
     * @param layers leading layers run exactly, 0 .. the model's layers - 1
     */
    public void reuseLayers(int layers) {
        if (layers < 0) {
            throw new IllegalArgumentException("reused layers must be >= 0, got " + layers);
        }
        exactLayers = layers;
    }

    /** @return the verification rows a layer-reusing drafter fills ({@link #reuseLayers}) */
    public HiddenStates verifyRows() {
        return verifyRows;
    }

    /**
     * Counts decoder-layer executions the drafter spent (for the stats).
     *
     * @param runs layer calls
     */
    public void countLayerRuns(long runs) {
        layerRuns += runs;
    }

    // ---- what the round and the verifier read -----------------------------------------------------

    /** Starts a round (the round calls it before {@link Drafter#propose}). */
    public void clear() {
        count = 0;
        deterministic = false;
        exactLayers = 0;
        layerRuns = 0;
    }

    /**
     * @param i a draft index, 0 .. count-1
     * @return the drafted token
     */
    int token(int i) {
        return tokens[i];
    }

    /** @return whether the drafts are fixed choices (q one-hot) */
    boolean deterministic() {
        return deterministic;
    }

    /** @return leading layers whose K/V the drafter wrote exactly (0: none) */
    int exactLayers() {
        return exactLayers;
    }

    /** @return decoder-layer executions the drafter reported this round */
    public long layerRuns() {
        return layerRuns;
    }

    /**
     * @param i a draft index
     * @param token a token id
     * @return q(token) of draft i: 1 or 0 for fixed drafts
     */
    double q(int i, int token) {
        return deterministic ? (token == tokens[i] ? 1.0 : 0.0) : q[i * vocab + token];
    }

    @Override
    public void close() {
        if (verifyRows != null) {
            verifyRows.close();
        }
    }
}
