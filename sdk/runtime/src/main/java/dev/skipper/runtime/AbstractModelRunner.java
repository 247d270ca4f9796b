package dev.skipper.runtime;

import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.runtime.spi.HiddenStates;
import dev.skipper.runtime.spi.KvCache;
import dev.skipper.runtime.spi.ModelRunner;
import java.util.Objects;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The backend-neutral half of a {@link ModelRunner}: every argument check of the SPI (token range,
 * rows, layer and exit indices, logits lengths, the cache's room, objects from another runner or
 * closed), the per-layer length bookkeeping, and close semantics (calls in progress finish; a call
 * after close fails; close runs once). A backend implements only the {@code run*} hooks, which see
 * checked arguments and run under the runner's read lock, and {@link #closeNative()}.
 *
 * <p>No check allocates, so a decode step through this class allocates nothing per token.
 *
 * @param <H> the backend's hidden states
 * @param <K> the backend's KV cache
 */
public abstract class AbstractModelRunner<H extends AbstractHiddenStates, K extends AbstractKvCache>
        implements ModelRunner {
    /** The bundle's validated manifest. */
    protected final BundleManifest manifest;
    /** Decoder layers. */
    protected final int numLayers;
    /** Vocabulary size (head logits width). */
    protected final int vocab;
    private final Class<H> hiddenType;
    private final Class<K> cacheType;
    private final int[] draftVocabulary;  // [draftVocab] token id of each draft head column, or null
    private final boolean[] exitLayers;   // [numLayers] calibrated exit after l layers, or null
    private final boolean kvFill;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private boolean closed;

    /**
     * @param manifest the bundle's validated manifest
     * @param hiddenType the backend's hidden-state class (objects of another class are refused)
     * @param cacheType the backend's cache class
     * @param draftVocabulary the draft vocabulary ({@link BundleTables#draftVocabulary}) when the
     *     backend loaded the draft heads, else null
     * @param kvFill whether the backend loaded the {@code kv_fill} graphs
     */
    protected AbstractModelRunner(BundleManifest manifest, Class<H> hiddenType, Class<K> cacheType,
            int[] draftVocabulary, boolean kvFill) {
        this.manifest = Objects.requireNonNull(manifest, "manifest");
        this.hiddenType = Objects.requireNonNull(hiddenType, "hiddenType");
        this.cacheType = Objects.requireNonNull(cacheType, "cacheType");
        this.numLayers = manifest.model().numLayers();
        this.vocab = manifest.model().vocabSize();
        this.draftVocabulary = draftVocabulary;
        this.kvFill = kvFill;
        if (draftVocabulary != null) {
            if (manifest.draftHeads() == null) {
                throw new IllegalArgumentException("a draft vocabulary without draft heads in the manifest");
            }
            exitLayers = new boolean[numLayers];
            manifest.draftHeads().exits().forEach(e -> exitLayers[e.layer()] = true);
        } else {
            exitLayers = null;
        }
        OpenRunners.add(this); // closed at JVM shutdown if the application has not closed it
    }

    // ---- hooks: arguments are checked, the read lock is held, the runner is open -------------------

    /**
     * @param geometry checked sizes and layout
     * @return a new, empty cache
     * @throws SkipperException when it cannot be allocated
     */
    protected abstract K createKvCache(KvGeometry geometry) throws SkipperException;

    /**
     * @param maxTokens rows, at least 1
     * @return a new buffer
     * @throws SkipperException when it cannot be allocated
     */
    protected abstract H createHiddenStates(int maxTokens) throws SkipperException;

    /**
     * Embeds checked token ids into rows {@code [0, count)}.
     *
     * @param tokens token ids
     * @param offset first index
     * @param count tokens
     * @param out destination
     * @throws SkipperException on a runtime failure
     */
    protected abstract void runEmbed(int[] tokens, int offset, int count, H out) throws SkipperException;

    /**
     * Runs a decoder layer over rows {@code [0, count)} whose K/V go to rows {@code past ..} of the
     * layer's cache; the caller advances the length after it returns.
     *
     * @param layer layer index
     * @param hidden rows, replaced by the layer's output
     * @param count rows
     * @param cache the cache
     * @param past the layer's cached length
     * @throws SkipperException on a runtime failure
     */
    protected abstract void runLayer(int layer, H hidden, int count, K cache, int past) throws SkipperException;

    /**
     * Final norm + LM head over rows {@code [row, row + count)} into {@code logits}.
     *
     * @param hidden rows
     * @param row first row
     * @param count rows
     * @param logits destination, long enough
     * @throws SkipperException on a runtime failure
     */
    protected abstract void runHead(H hidden, int row, int count, float[] logits) throws SkipperException;

    /**
     * A layer's K/V only (the caller advances the length).
     *
     * @param layer layer index
     * @param hidden rows, unchanged
     * @param count rows
     * @param cache the cache
     * @param past the layer's cached length
     * @throws SkipperException on a runtime failure
     */
    protected void runFillKv(int layer, H hidden, int count, K cache, int past) throws SkipperException {
        throw new UnsupportedOperationException("this runner has no K/V-only graphs");
    }

    /**
     * A calibrated exit head in place, router probabilities into {@code accept}.
     *
     * @param exitLayer a calibrated exit layer
     * @param hidden rows
     * @param count rows
     * @param accept destination, long enough
     * @throws SkipperException on a runtime failure
     */
    protected void runExitHead(int exitLayer, H hidden, int count, float[] accept) throws SkipperException {
        throw new UnsupportedOperationException("this runner has no exit heads");
    }

    /**
     * The draft head over rows {@code [0, count)}.
     *
     * @param hidden rows
     * @param count rows
     * @param logits destination {@code [count][draftVocab]}, long enough
     * @throws SkipperException on a runtime failure
     */
    protected void runDraftHead(H hidden, int count, float[] logits) throws SkipperException {
        throw new UnsupportedOperationException("this runner has no draft head");
    }

    /**
     * @return whether the backend loaded the bundle's feature drafter (then it implements
     *     {@link #runFeatureDraft})
     */
    protected boolean loadedFeatureDrafter() {
        return false;
    }

    /**
     * The feature drafter over checked rows (the caller advances the drafter cache's length).
     *
     * @param features feature rows
     * @param featureRow first feature row
     * @param embedded embeddings, rows {@code [0, count)}
     * @param count positions
     * @param cache the one-layer drafter cache
     * @param past its cached length
     * @param out predicted features, rows {@code [0, count)}
     * @param logits destination {@code [count][draftVocab]}, long enough
     * @throws SkipperException on a runtime failure
     */
    protected void runFeatureDraft(H features, int featureRow, H embedded, int count, K cache, int past, H out,
                                   float[] logits) throws SkipperException {
        throw new UnsupportedOperationException("this runner has no feature drafter");
    }

    /**
     * Copies checked rows between two buffers of this runner.
     *
     * @param from source
     * @param fromRow first source row
     * @param to destination
     * @param toRow first destination row
     * @param count rows
     */
    protected abstract void runCopyRows(H from, int fromRow, H to, int toRow, int count);

    /** Closes every native object; called once, with no call in progress. */
    protected abstract void closeNative();

    // ---- the SPI --------------------------------------------------------------------------------

    @Override
    public final BundleManifest manifest() {
        return manifest;
    }

    @Override
    public final KvCache newKvCache(int maxSeq) throws SkipperException {
        KvGeometry geometry = KvGeometry.of(manifest, maxSeq);
        lock.readLock().lock();
        try {
            ensureOpen();
            return createKvCache(geometry);
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public final HiddenStates newHiddenStates(int maxTokens) throws SkipperException {
        if (maxTokens < 1) {
            throw new SkipperException("hidden states need at least 1 row, got " + maxTokens);
        }
        lock.readLock().lock();
        try {
            ensureOpen();
            return createHiddenStates(maxTokens);
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public final void embed(int[] tokens, int offset, int count, HiddenStates out) throws SkipperException {
        H hs = hidden(out);
        if (offset < 0 || count < 1 || offset > tokens.length - count) {
            throw new IndexOutOfBoundsException("tokens [" + offset + ", " + offset + "+" + count + ") of "
                    + tokens.length);
        }
        hs.checkRows(0, count);
        for (int i = offset; i < offset + count; i++) {
            if (tokens[i] < 0 || tokens[i] >= vocab) {
                throw new IllegalArgumentException("token id " + tokens[i] + " is outside the vocabulary [0, "
                        + vocab + ")");
            }
        }
        lock.readLock().lock();
        try {
            ensureOpen();
            runEmbed(tokens, offset, count, hs);
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public final void layer(int layer, HiddenStates hidden, int count, KvCache cache) throws SkipperException {
        H hs = hidden(hidden);
        K kv = cache(cache);
        int past = appendStart(layer, hs, count, kv);
        lock.readLock().lock();
        try {
            ensureOpen();
            runLayer(layer, hs, count, kv, past);
            kv.advance(layer, count);
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public final void head(HiddenStates hidden, int row, int count, float[] logits) throws SkipperException {
        H hs = hidden(hidden);
        hs.checkRows(row, count);
        if (logits.length < (long) count * vocab) {
            throw new IllegalArgumentException("logits need " + ((long) count * vocab) + " floats, got " + logits.length);
        }
        lock.readLock().lock();
        try {
            ensureOpen();
            runHead(hs, row, count, logits);
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public final boolean hasKvFill() {
        return kvFill;
    }

    @Override
    public final void fillKv(int layer, HiddenStates hidden, int count, KvCache cache) throws SkipperException {
        H hs = hidden(hidden);
        K kv = cache(cache);
        if (!kvFill) {
            throw new UnsupportedOperationException("bundle " + manifest.directory() + " has no kv_fill graphs");
        }
        int past = appendStart(layer, hs, count, kv);
        lock.readLock().lock();
        try {
            ensureOpen();
            runFillKv(layer, hs, count, kv, past);
            kv.advance(layer, count);
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public final boolean hasDraftHeads() {
        return draftVocabulary != null;
    }

    @Override
    public final void exitHead(int exitLayer, HiddenStates hidden, int count, float[] accept) throws SkipperException {
        H hs = hidden(hidden);
        hs.checkRows(0, count);
        if (draftVocabulary == null) {
            throw new UnsupportedOperationException("bundle " + manifest.directory() + " has no exit heads");
        }
        if (exitLayer < 0 || exitLayer >= numLayers || !exitLayers[exitLayer]) {
            throw new IllegalArgumentException("no exit head after " + exitLayer + " layers in " + manifest.directory());
        }
        if (accept.length < count) {
            throw new IllegalArgumentException("accept needs " + count + " floats, got " + accept.length);
        }
        lock.readLock().lock();
        try {
            ensureOpen();
            runExitHead(exitLayer, hs, count, accept);
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public final void draftHead(HiddenStates hidden, int count, float[] logits) throws SkipperException {
        H hs = hidden(hidden);
        hs.checkRows(0, count);
        if (draftVocabulary == null) {
            throw new UnsupportedOperationException("bundle " + manifest.directory() + " has no draft heads");
        }
        if (logits.length < (long) count * draftVocabulary.length) {
            throw new IllegalArgumentException("draft logits need " + ((long) count * draftVocabulary.length)
                    + " floats, got " + logits.length);
        }
        lock.readLock().lock();
        try {
            ensureOpen();
            runDraftHead(hs, count, logits);
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public final int[] draftVocabulary() {
        if (draftVocabulary == null) {
            throw new UnsupportedOperationException("bundle " + manifest.directory() + " has no draft heads");
        }
        return draftVocabulary.clone();
    }

    /** @return the draft vocabulary's size, 0 without draft heads */
    protected final int draftVocabularySize() {
        return draftVocabulary == null ? 0 : draftVocabulary.length;
    }

    @Override
    public final boolean hasFeatureDrafter() {
        return draftVocabulary != null && loadedFeatureDrafter();
    }

    @Override
    public final KvCache newFeatureDrafterCache(int maxSeq) throws SkipperException {
        requireFeatureDrafter();
        KvGeometry g = KvGeometry.of(manifest, maxSeq);
        KvGeometry one = new KvGeometry(1, g.maxSeq(), g.scratchRows(), g.kvHeads(), g.headDim(), g.elementBytes(),
                g.layout());
        lock.readLock().lock();
        try {
            ensureOpen();
            return createKvCache(one);
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public final void featureDraft(HiddenStates features, int featureRow, HiddenStates embedded, int count,
                                   KvCache drafterCache, HiddenStates out, float[] logits) throws SkipperException {
        H f = hidden(features);
        H e = hidden(embedded);
        H o = hidden(out);
        K kv = cache(drafterCache);
        requireFeatureDrafter();
        if (kv.geometry().numLayers() != 1) {
            throw new IllegalArgumentException("featureDraft needs a cache from newFeatureDrafterCache, got one of "
                    + kv.geometry().numLayers() + " layers");
        }
        if (o == e || o == f) {
            throw new IllegalArgumentException("featureDraft writes into another buffer than its inputs");
        }
        f.checkRows(featureRow, count);
        o.checkRows(0, count);
        if (logits.length < (long) count * draftVocabulary.length) {
            throw new IllegalArgumentException("draft logits need " + ((long) count * draftVocabulary.length)
                    + " floats, got " + logits.length);
        }
        int past = appendStart(0, e, count, kv);
        lock.readLock().lock();
        try {
            ensureOpen();
            runFeatureDraft(f, featureRow, e, count, kv, past, o, logits);
            kv.advance(0, count);
        } finally {
            lock.readLock().unlock();
        }
    }

    private void requireFeatureDrafter() {
        if (!hasFeatureDrafter()) {
            throw new UnsupportedOperationException("bundle " + manifest.directory() + " has no feature drafter"
                    + " (./skipper calibrate trains one)");
        }
    }

    @Override
    public final void copyRows(HiddenStates from, int fromRow, HiddenStates to, int toRow, int count) {
        H src = hidden(from);
        H dst = hidden(to);
        src.checkRows(fromRow, count);
        dst.checkRows(toRow, count);
        if (src == dst && fromRow != toRow && fromRow < toRow + count && toRow < fromRow + count) {
            throw new IllegalArgumentException("rows [" + fromRow + ", +" + count + ") and [" + toRow + ", +" + count
                    + ") of the same buffer overlap");
        }
        runCopyRows(src, fromRow, dst, toRow, count);
    }

    /** Closes every native object; waits for calls in progress. Idempotent. */
    @Override
    public final void close() {
        lock.writeLock().lock();
        try {
            closeLocked();
        } finally {
            lock.writeLock().unlock();
        }
    }

    /**
     * {@link #close()} at JVM shutdown: waits at most {@code millis} for the call in progress, and
     * leaves the runner open (so nothing is freed under that call) if it does not end in time.
     *
     * @param millis the most to wait
     * @return whether the runner is closed
     */
    final boolean closeWithin(long millis) {
        boolean locked;
        try {
            locked = lock.writeLock().tryLock(millis, java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
        if (!locked) {
            return false;
        }
        try {
            closeLocked();
            return true;
        } finally {
            lock.writeLock().unlock();
        }
    }

    private void closeLocked() {
        if (closed) {
            return;
        }
        closed = true;
        OpenRunners.remove(this);
        closeNative();
    }

    /** @throws IllegalStateException after close */
    protected final void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("model runner is closed");
        }
    }

    /** Checks a layer index, the rows and the cache's room; returns where the new rows go. */
    private int appendStart(int layer, H hs, int count, K kv) throws SkipperException {
        if (layer < 0 || layer >= numLayers) {
            throw new IndexOutOfBoundsException("layer " + layer + " of " + numLayers);
        }
        hs.checkRows(0, count);
        return kv.appendStart(layer, count);
    }

    private H hidden(HiddenStates hidden) {
        if (!hiddenType.isInstance(hidden) || ((AbstractHiddenStates) hidden).owner() != this) {
            throw new IllegalArgumentException("hidden states were not created by this runner");
        }
        H hs = hiddenType.cast(hidden);
        hs.ensureOpen();
        return hs;
    }

    private K cache(KvCache cache) {
        if (!cacheType.isInstance(cache) || ((AbstractKvCache) cache).owner() != this) {
            throw new IllegalArgumentException("KV cache was not created by this runner");
        }
        K kv = cacheType.cast(cache);
        kv.ensureOpen();
        return kv;
    }
}
