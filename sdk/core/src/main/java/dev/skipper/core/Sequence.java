package dev.skipper.core;

import dev.skipper.api.SamplingOptions;
import dev.skipper.api.SkipperException;
import dev.skipper.core.sampling.RecentTokens;
import dev.skipper.core.sampling.Sampler;
import dev.skipper.runtime.spi.HiddenStates;
import dev.skipper.runtime.spi.KvCache;
import dev.skipper.runtime.spi.ModelRunner;
import java.util.Arrays;
import java.util.Objects;
import java.util.function.BooleanSupplier;

/**
 * The model state of one token sequence: its tokens, the KV cache of the first {@link #cached()} of
 * them, and the next-token logits after the last one run.
 *
 * <p>Tokens are <em>known</em> ({@link #length()}) before they are <em>run</em> ({@link #cached()}):
 * a prompt is appended, then run in chunks; a sampled token is appended and run on the next step.
 * Tokens known but not run (at most one between requests: the last sampled token) are run first
 * by the next {@link #run}, so a conversation continues exactly where it stopped.
 *
 * <p>Dropping tokens ({@link #rewind}) only sets lengths: the cache is preallocated for the context
 * and nothing is copied. Not thread-safe: owned by one session.
 */
final class Sequence implements AutoCloseable {
    /** Number of repetition-penalty tokens kept (llama.cpp's {@code repeat_last_n}). */
    static final int PENALTY_WINDOW = 64;

    private final ModelRunner runner;
    private final int numLayers;
    private final int contextLength;
    private final int chunk;
    /** Per layer K and V {@code [contextLength][kvHeads * headDim]}, valid up to {@link #cached}. */
    private final KvCache cache;
    /** Working rows {@code [chunk][hidden]}: one prefill chunk or one decode token. */
    private final HiddenStates hidden;
    /** {@code [contextLength + 1]} every token of the sequence, oldest first; [0, length) valid. */
    private final int[] tokens;
    /** The same tokens, for the sampler's repetition penalty. */
    private final RecentTokens recent;
    /** {@code [vocab]} logits of the token after the last one run. */
    private final float[] logits;
    private dev.skipper.core.constrained.Constraint constraint; // the running request's grammar, or null

    /** Sees every layer's input rows while prompts run (FiRST routing), or null. */
    private LayerInputs observer;
    // [contextLength][hidden] the last layer's output at every cached position, for the feature
    // drafter; allocated by the first request whose strategy drafts with it (null until then, and
    // always without one: 19 MB at 8,192 tokens a plain session does not need); valid for [0, featuresKnown)
    private HiddenStates features;
    private int featuresKnown;

    /** Tokens known. */
    private int length;
    /** Tokens whose K/V are in the cache; {@code cached <= length}. */
    private int cached;

    /**
     * Allocates the buffers of a sequence.
     *
     * @param runner the engine's runner
     * @param contextLength capacity of the KV cache in tokens
     * @param chunk rows of the working hidden states: the most tokens one model call processes
     * @throws SkipperException if the backend cannot allocate them
     */
    Sequence(ModelRunner runner, int contextLength, int chunk) throws SkipperException {
        this.runner = Objects.requireNonNull(runner, "runner");
        this.numLayers = runner.manifest().model().numLayers();
        this.contextLength = contextLength;
        this.chunk = chunk;
        this.tokens = new int[contextLength + 1];
        this.recent = new RecentTokens(contextLength + 1, PENALTY_WINDOW);
        this.logits = new float[runner.manifest().model().vocabSize()];
        KvCache kv = runner.newKvCache(contextLength);
        HiddenStates h = null;
        try {
            h = runner.newHiddenStates(chunk);
        } catch (SkipperException | RuntimeException e) {
            kv.close();
            if (h != null) {
                h.close();
            }
            throw e;
        }
        this.hidden = h;
        this.cache = kv;
    }

    /** @return tokens known (run or not) */
    int length() {
        return length;
    }

    /** @return tokens in the KV cache */
    int cached() {
        return cached;
    }

    /** @return capacity of the KV cache */
    int contextLength() {
        return contextLength;
    }

    /** @return rows of the working hidden states */
    int chunk() {
        return chunk;
    }

    /** @return the KV cache (speculative rounds append and drop rows themselves) */
    KvCache cache() {
        return cache;
    }

    /** @return the token array itself, valid in {@code [0, length())}: read it, do not write it */
    int[] tokenArray() {
        return tokens;
    }

    /** @return the runner */
    ModelRunner runner() {
        return runner;
    }

    /**
     * Records that the cache now holds exactly {@code n} rows in every layer (after a speculative
     * round truncated it).
     *
     * @param n rows, &lt; {@link #length()}
     */
    void setCached(int n) {
        if (n < 0 || n >= length) {
            throw new IllegalArgumentException("cached must be in [0, " + length + "), got " + n);
        }
        cached = n;
        featuresKnown = Math.min(featuresKnown, n);
    }

    /**
     * Keeps the first {@code keep} tokens with the last one pending (known, not cached), as plain
     * decoding leaves a sequence after it stops at a token.
     *
     * @param keep tokens to keep, 1 .. {@link #length()}
     */
    void rewindPending(int keep) {
        rewind(keep);
        if (cached > keep - 1) {
            cache.truncate(keep - 1);
            cached = keep - 1;
            featuresKnown = Math.min(featuresKnown, cached);
        }
    }

    /** A hook that sees each layer's input rows of the chunks {@link #run} processes. */
    interface LayerInputs {
        /**
         * @param layer the layer about to run
         * @param input its input rows
         * @param count rows
         */
        void observe(int layer, HiddenStates input, int count);
    }

    /**
     * Sets (or clears, with null) the hook that sees every layer's input during {@link #run}.
     *
     * @param hook the hook, or null
     */
    void observeLayerInputs(LayerInputs hook) {
        this.observer = hook;
    }

    /**
     * Makes the feature drafter's store ready for a request that drafts with it: allocated on first
     * use, and when it lacks rows of cached positions (the session ran without it, or lossy depth
     * skipped storing), the cache is cut back to the rows it has, so the coming prefill runs those
     * tokens again and stores their features. The cache's rows are recomputed, never changed.
     *
     * @throws SkipperException if the store cannot be allocated
     */
    void needFeatures() throws SkipperException {
        if (!runner.hasFeatureDrafter()) {
            return;
        }
        if (features == null) {
            features = runner.newHiddenStates(contextLength);
            featuresKnown = 0;
        }
        if (featuresKnown < cached) {
            cache.truncate(featuresKnown);
            cached = featuresKnown;
        }
    }

    /** @return whether the feature drafter's store is allocated (tests) */
    boolean hasFeatureStore() {
        return features != null;
    }

    /**
     * Stores last-layer rows computed outside {@link #run} (a verification's accepted rows) for the
     * feature drafter; without one (or after a gap) nothing is stored.
     *
     * @param first position of the first row, at most {@link #featuresKnown()}
     * @param rows the rows
     * @param row first row
     * @param count rows
     */
    void storeFeatures(int first, HiddenStates rows, int row, int count) {
        if (features == null || first > featuresKnown || count <= 0 || first >= contextLength) {
            return;
        }
        int n = Math.min(count, contextLength - first);
        runner.copyRows(rows, row, features, first, n);
        featuresKnown = Math.max(featuresKnown, first + n);
    }

    /** @return the last layer's output by position, {@code [contextLength][hidden]}, or null before {@link #needFeatures} */
    HiddenStates features() {
        return features;
    }

    /** @return positions {@code [0, featuresKnown())} of {@link #features()} hold the current cache's rows */
    int featuresKnown() {
        return featuresKnown;
    }

    /**
     * Records that the tokens up to {@code n} are now cached in every layer (a step that ran the
     * pending token itself, such as lossy adaptive depth).
     *
     * @param n cached tokens, {@link #cached()} &lt; n &lt;= {@link #length()}
     */
    void markRun(int n) {
        if (n <= cached || n > length) {
            throw new IllegalArgumentException("cached must grow within (" + cached + ", " + length + "], got " + n);
        }
        cached = n;
    }

    /** @return the working hidden states (also used by scoring, between requests) */
    HiddenStates hidden() {
        return hidden;
    }

    /** @return the repetition-penalty view of the tokens */
    RecentTokens recent() {
        return recent;
    }

    /** @return {@code [vocab]} logits after the last {@link #run}; overwritten by the next */
    /**
     * Constrains {@link #sampleNext} to a document's grammar (structured output), or lifts it.
     *
     * @param c the request's constraint, or {@code null}
     */
    void constrain(dev.skipper.core.constrained.Constraint c) {
        this.constraint = c;
    }

    /** @return the running request's grammar constraint, or {@code null} */
    dev.skipper.core.constrained.Constraint constraint() {
        return constraint;
    }

    float[] logits() {
        return logits;
    }

    /**
     * The next token from the current logits and the repetition window.
     *
     * @param sampler the session's sampler
     * @param sampling the request's sampling
     * @return the token
     * @throws SkipperException on bad logits (NaN, all -inf)
     */
    int sampleNext(Sampler sampler, SamplingOptions sampling) throws SkipperException {
        try {
            if (constraint == null) {
                return sampler.next(logits, 0, sampling, recent());
            }
            constraint.mask(logits, 0); // the logits are consumed here: masking them in place is safe
            return sampler.next(logits, 0, sampling, recent()); // the decode loop advances the constraint
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw new SkipperException("cannot sample the next token: " + e.getMessage(), e);
        }
    }

    /**
     * A copy of the known tokens.
     *
     * @return {@code tokens[0, length)}
     */
    int[] tokens() {
        return Arrays.copyOf(tokens, length);
    }

    /**
     * How many leading tokens this sequence shares with {@code target}.
     *
     * @param target a token sequence
     * @return the length of the common prefix
     */
    int commonPrefix(int[] target) {
        int n = Math.min(length, target.length);
        int i = 0;
        while (i < n && tokens[i] == target[i]) {
            i++;
        }
        return i;
    }

    /**
     * Keeps only the first {@code keep} tokens (and the cache of those that were run). O(1).
     *
     * @param keep tokens to keep, 0 .. {@link #length()}
     */
    void rewind(int keep) {
        if (keep < 0 || keep > length) {
            throw new IllegalArgumentException("keep must be in [0, " + length + "], got " + keep);
        }
        length = keep;
        recent.truncate(keep);
        if (cached > keep) {
            cache.truncate(keep);
            cached = keep;
            featuresKnown = Math.min(featuresKnown, cached);
        }
    }

    /**
     * Appends {@code ids[from, to)} as known, not yet run, tokens.
     *
     * @param ids token ids
     * @param from first index
     * @param to end index (exclusive)
     * @throws IllegalStateException if they do not fit the context (callers check first)
     */
    void append(int[] ids, int from, int to) {
        Objects.checkFromToIndex(from, to, ids.length);
        if (to - from > contextLength - length) {
            throw new IllegalStateException((length + to - from) + " tokens exceed the context of " + contextLength);
        }
        System.arraycopy(ids, from, tokens, length, to - from);
        recent.addAll(ids, from, to);
        length += to - from;
    }

    /**
     * Appends one sampled token. The array has one slot beyond the context, so the token sampled
     * when the cache is full can still be recorded (it is never run).
     *
     * @param token the token id
     */
    void append(int token) {
        tokens[length++] = token;
        recent.add(token);
    }

    /**
     * Makes sure the next {@link #run} has at least one token to run, so that it produces logits:
     * when every known token is cached, the last one is dropped from the cache to be run again.
     *
     * @return tokens the next run will process
     * @throws IllegalStateException if the sequence is empty
     */
    int ensureSomethingToRun() {
        if (length == 0) {
            throw new IllegalStateException("nothing to run: the sequence is empty");
        }
        if (cached == length) {
            cache.truncate(length - 1);
            cached = length - 1;
            featuresKnown = Math.min(featuresKnown, cached);
        }
        return length - cached;
    }

    /**
     * Runs every known token that is not cached yet, in chunks of at most {@link #chunk()}: embed,
     * every layer (appending their K/V to the cache), and the head on the last row only, into
     * {@link #logits()}.
     *
     * @param cancelled checked before each chunk, or {@code null}
     * @return true when all tokens ran; false when {@code cancelled} said stop (the tokens of the
     *     chunks that ran stay cached; the logits are stale)
     * @throws SkipperException on a backend failure; the cache then holds exactly the chunks that
     *     completed
     */
    boolean run(BooleanSupplier cancelled) throws SkipperException {
        int last = 0;
        while (cached < length) {
            if (cancelled != null && cancelled.getAsBoolean()) {
                return false;
            }
            last = Math.min(chunk, length - cached);
            runRows(cached, last);
            cached += last;
        }
        if (last == 0) {
            throw new IllegalStateException("run() with nothing to run (call ensureSomethingToRun first)");
        }
        runner.head(hidden, last - 1, 1, logits);
        return true;
    }

    /** Embed and every layer over {@code tokens[from, from + count)}; on failure the cache is put back to {@code from}. */
    private void runRows(int from, int count) throws SkipperException {
        try {
            runner.embed(tokens, from, count, hidden);
            for (int layer = 0; layer < numLayers; layer++) {
                if (observer != null) {
                    observer.observe(layer, hidden, count);
                }
                runner.layer(layer, hidden, count, cache);
            }
            storeFeatures(from, hidden, 0, count);
        } catch (SkipperException | RuntimeException e) {
            cache.truncate(from); // layers that already appended this chunk drop it again
            throw e;
        }
    }

    /** Frees the cache and the hidden states; idempotent. */
    @Override
    public void close() {
        try {
            cache.close();
        } finally {
            hidden.close();
            if (features != null) {
                features.close();
            }
        }
    }
}
