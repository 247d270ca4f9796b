package dev.skipper.ort;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxTensorLike;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.runtime.spi.HiddenStates;
import dev.skipper.runtime.spi.KvCache;
import dev.skipper.runtime.spi.ModelRunner;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * Runs a bundle's graphs with ONNX Runtime on the CPU: one {@link OrtSession} for the embedding,
 * one per decoder layer and one for the head, all sharing the process-wide thread pool (see
 * {@link SharedEnvironment}).
 *
 * <p>Zero copy: every input is a tensor over a direct buffer of an {@link OrtHiddenStates} or
 * {@link OrtKvCache} ({@code past_key}/{@code past_value} are the cache's valid prefix), and every
 * output is <em>pinned</em> ({@code OrtSession.run(inputs, pinnedOutputs)}): ONNX Runtime writes
 * {@code hidden_out} into the second hidden buffer, {@code key}/{@code value} into the cache at
 * rows {@code P .. P+count-1}, and {@code logits} into the logits staging buffer. The only copy of
 * a step is the logits into the caller's {@code float[]}.
 *
 * <p>Thread safety: sessions accept concurrent {@code run()} calls and all per-sequence state is in
 * the cache and hidden-state objects, so different threads may run different sequences at once.
 * {@link #close()} waits for calls in progress; any call after it throws
 * {@link IllegalStateException}.
 */
public final class OrtModelRunner implements ModelRunner {

    private final LongAdder runNanos = new LongAdder(); // time inside OrtSession.run, all threads

    private static final String INPUT_IDS = "input_ids";
    private static final String HIDDEN = "hidden";
    private static final String POSITION_IDS = "position_ids";
    private static final String PAST_KEY = "past_key";
    private static final String PAST_VALUE = "past_value";
    private static final String SEQLENS_K = "seqlens_k";
    private static final String TOTAL_SEQUENCE_LENGTH = "total_sequence_length";
    private static final String COS_CACHE = "cos_cache";
    private static final String SIN_CACHE = "sin_cache";
    private static final String PRESENT_KEY = "present_key";
    private static final String PRESENT_VALUE = "present_value";
    private static final String HIDDEN_OUT = "hidden_out";
    private static final String KEY = "key";
    private static final String VALUE = "value";
    private static final String LOGITS = "logits";
    private static final String ACCEPT_PROB = "accept_prob";

    private final BundleManifest manifest;
    private final OrtEnvironment env;
    private final OrtSession embed;    // input_ids [1, S] -> hidden [1, S, H]
    // [layers] sequence_major: hidden, position_ids, past_key, past_value -> hidden_out, key, value;
    // head_major_shared: hidden, past_key, past_value, seqlens_k, total_sequence_length, cos_cache,
    // sin_cache -> hidden_out, present_key, present_value
    private final OrtSession[] layers;
    private final OrtSession head;     // hidden [1, S, H] -> logits [1, S, V] float32
    // [layers] K/V only (graphs.kv_fill), or null: the layer's inputs (sequence_major: hidden,
    // position_ids) -> present_key, present_value (sequence_major: key, value)
    private final OrtSession[] kvFill;
    private final DraftHeads draft;    // calibrated exit heads, or null
    private final int numLayers;
    private final int hiddenSize;
    private final int vocab;
    private final int kvHeads;
    private final int headDim;
    private final int maxPosition;
    private final boolean fp16;
    private final boolean headMajor; // kv_cache.layout head_major_shared
    private final RopeTables rope;   // head_major_shared: cos/sin inputs shared by every layer and sequence; else null

    /** Read: a call in progress; write: close. */
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private volatile boolean closed;

    /**
     * The bundle's early-exit draft graphs.
     *
     * @param exits {@code [numLayers]} exit graph after that many layers (hidden -> hidden_out,
     *     accept_prob), null where none
     * @param head hidden [1, S, H] -> logits [1, S, N] over the draft vocabulary
     * @param vocab {@code [N]} token id of each draft logit column
     */
    private record DraftHeads(OrtSession[] exits, OrtSession head, int[] vocab) {
    }

    private OrtModelRunner(BundleManifest manifest, OrtEnvironment env, OrtSession embed, OrtSession[] layers,
                           OrtSession head, OrtSession[] kvFill, DraftHeads draft, RopeTables rope) {
        this.manifest = manifest;
        this.env = env;
        this.embed = embed;
        this.layers = layers;
        this.head = head;
        this.draft = draft;
        this.kvFill = kvFill;
        BundleManifest.ModelDims m = manifest.model();
        this.numLayers = m.numLayers();
        this.hiddenSize = m.hiddenSize();
        this.vocab = m.vocabSize();
        this.kvHeads = m.numKvHeads();
        this.headDim = m.headDim();
        this.maxPosition = m.maxPosition();
        this.fp16 = manifest.weights().activations() == BundleManifest.DType.FLOAT16;
        this.headMajor = manifest.kvCache().layout() == BundleManifest.KvLayout.HEAD_MAJOR_SHARED;
        this.rope = rope;
    }

    /**
     * Creates the sessions of a bundle.
     *
     * @param bundleDir the bundle directory (for messages; graphs are resolved in {@code manifest.directory()})
     * @param manifest its validated manifest
     * @param shared the environment and thread settings
     * @return the runner
     * @throws SkipperException if a graph cannot be loaded or does not have the expected I/O
     */
    static OrtModelRunner open(Path bundleDir, BundleManifest manifest, SharedEnvironment shared)
            throws SkipperException {
        BundleManifest.DType activations = manifest.weights().activations();
        if (activations != BundleManifest.DType.FLOAT32 && activations != BundleManifest.DType.FLOAT16) {
            throw new SkipperException("the cpu backend runs float32 or float16 activations, not "
                    + activations.yamlName());
        }
        BundleManifest.GraphsSpec graphs = manifest.graphs();
        boolean headMajor = manifest.kvCache().layout() == BundleManifest.KvLayout.HEAD_MAJOR_SHARED;
        Set<String> layerInputs = headMajor
                ? Set.of(HIDDEN, PAST_KEY, PAST_VALUE, SEQLENS_K, TOTAL_SEQUENCE_LENGTH, COS_CACHE, SIN_CACHE)
                : Set.of(HIDDEN, POSITION_IDS, PAST_KEY, PAST_VALUE);
        Set<String> layerOutputs = headMajor ? Set.of(HIDDEN_OUT, PRESENT_KEY, PRESENT_VALUE) : Set.of(HIDDEN_OUT, KEY, VALUE);
        List<OrtSession> opened = new ArrayList<>();
        RopeTables rope = null;
        try (OrtSession.SessionOptions options = shared.sessionOptions(manifest.onnxruntime().sessionConfig())) {
            if (headMajor) {
                rope = RopeTables.load(shared.env(), manifest);
            }
            OrtSession embed = load(shared.env(), manifest, graphs.embed().file(), options, opened,
                    Set.of(INPUT_IDS), Set.of(HIDDEN));
            OrtSession[] layers = new OrtSession[graphs.layers().size()];
            for (int l = 0; l < layers.length; l++) {
                layers[l] = load(shared.env(), manifest, graphs.layers().get(l).file(), options, opened,
                        layerInputs, layerOutputs);
            }
            OrtSession head = load(shared.env(), manifest, graphs.head().file(), options, opened,
                    Set.of(HIDDEN), Set.of(LOGITS));
            OrtSession[] kvFill = null;
            if (!graphs.kvFill().isEmpty()) {
                Set<String> fillInputs = headMajor ? layerInputs : Set.of(HIDDEN, POSITION_IDS);
                Set<String> fillOutputs = headMajor ? Set.of(PRESENT_KEY, PRESENT_VALUE) : Set.of(KEY, VALUE);
                kvFill = new OrtSession[graphs.kvFill().size()];
                for (int l = 0; l < kvFill.length; l++) {
                    kvFill[l] = load(shared.env(), manifest, graphs.kvFill().get(l).file(), options, opened,
                            fillInputs, fillOutputs);
                }
            }
            DraftHeads draft = manifest.draftHeads() == null ? null
                    : loadDraftHeads(shared.env(), manifest, options, opened);
            return new OrtModelRunner(manifest, shared.env(), embed, layers, head, kvFill, draft, rope);
        } catch (OrtException e) {
            closeAll(opened);
            closeQuietly(rope);
            throw new SkipperException("cannot set up ONNX Runtime sessions for " + bundleDir + ": " + e.getMessage(), e);
        } catch (SkipperException | RuntimeException e) {
            closeAll(opened);
            closeQuietly(rope);
            throw e;
        }
    }

    private static DraftHeads loadDraftHeads(OrtEnvironment env, BundleManifest manifest,
                                             OrtSession.SessionOptions options, List<OrtSession> opened)
            throws SkipperException {
        BundleManifest.DraftHeadsSpec spec = manifest.draftHeads();
        OrtSession[] exits = new OrtSession[manifest.model().numLayers()];
        for (BundleManifest.ExitHeadSpec e : spec.exits()) {
            exits[e.layer()] = load(env, manifest, e.graph().file(), options, opened, Set.of(HIDDEN),
                    Set.of(HIDDEN_OUT, ACCEPT_PROB));
        }
        OrtSession head = load(env, manifest, spec.head().file(), options, opened, Set.of(HIDDEN), Set.of(LOGITS));
        return new DraftHeads(exits, head, readVocabulary(manifest, spec));
    }

    /** The draft vocabulary file: exactly {@code size} little-endian int32 ids, each in the vocabulary. */
    private static int[] readVocabulary(BundleManifest manifest, BundleManifest.DraftHeadsSpec spec)
            throws SkipperException {
        Path path = manifest.resolve(spec.vocabFile());
        byte[] bytes;
        try {
            long size = java.nio.file.Files.size(path);
            if (size != 4L * spec.vocabSize()) {
                throw new SkipperException(path + ": " + size + " bytes, expected " + 4L * spec.vocabSize()
                        + " (draft_heads.vocab.size " + spec.vocabSize() + " int32 ids)");
            }
            bytes = java.nio.file.Files.readAllBytes(path);
        } catch (java.io.IOException e) {
            throw new SkipperException("cannot read " + path + ": " + e.getMessage(), e);
        }
        java.nio.IntBuffer ids = java.nio.ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN).asIntBuffer();
        int[] vocab = new int[spec.vocabSize()];
        int modelVocab = manifest.model().vocabSize();
        for (int i = 0; i < vocab.length; i++) {
            vocab[i] = ids.get(i);
            if (vocab[i] < 0 || vocab[i] >= modelVocab) {
                throw new SkipperException(path + ": entry " + i + " is token id " + vocab[i]
                        + ", outside the vocabulary [0, " + modelVocab + ")");
            }
        }
        return vocab;
    }

    /** Loads one graph by file path (resolved in the manifest's validated directory) and checks its I/O names. */
    private static OrtSession load(OrtEnvironment env, BundleManifest manifest, String file,
                                   OrtSession.SessionOptions options, List<OrtSession> opened, Set<String> inputs,
                                   Set<String> outputs) throws SkipperException {
        Path path = manifest.resolve(file);
        OrtSession session;
        try {
            session = env.createSession(path.toString(), options);
        } catch (OrtException e) {
            throw new SkipperException("ONNX Runtime cannot load " + path + ": " + oneLine(e.getMessage()), e);
        }
        opened.add(session);
        if (!session.getInputNames().equals(inputs) || !session.getOutputNames().equals(outputs)) {
            throw new SkipperException(path + " has inputs " + session.getInputNames() + " and outputs "
                    + session.getOutputNames() + ", expected " + inputs + " and " + outputs);
        }
        return session;
    }

    @Override
    public BundleManifest manifest() {
        return manifest;
    }

    @Override
    public KvCache newKvCache(int maxSeq) throws SkipperException {
        lock.readLock().lock();
        try {
            ensureOpen();
            return new OrtKvCache(env, this, numLayers, maxSeq, manifest.kvCache().scratchRows(), maxPosition, kvHeads,
                    headDim, fp16, headMajor);
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public HiddenStates newHiddenStates(int maxTokens) throws SkipperException {
        lock.readLock().lock();
        try {
            ensureOpen();
            return new OrtHiddenStates(env, this, maxTokens, hiddenSize, vocab,
                    draft == null ? 0 : draft.vocab().length, fp16);
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public void embed(int[] tokens, int offset, int count, HiddenStates out) throws SkipperException {
        OrtHiddenStates hs = hidden(out);
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
            hs.embedInputs.put(INPUT_IDS, hs.inputIds(tokens, offset, count));
            hs.embedOutputs.put(HIDDEN, hs.currentHidden(count));
            run(embed, hs.embedInputs, hs.embedOutputs, -1);
        } catch (OrtException e) {
            throw new SkipperException("embed: cannot create tensors: " + oneLine(e.getMessage()), e);
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public void layer(int layer, HiddenStates hidden, int count, KvCache cache) throws SkipperException {
        OrtHiddenStates hs = hidden(hidden);
        OrtKvCache kv = cache(cache);
        int past = appendPosition(layer, hs, count, kv);
        lock.readLock().lock();
        try {
            ensureOpen();
            if (headMajor) {
                layerShared(layer, hs, count, kv, past);
            } else {
                layerSequenceMajor(layer, hs, count, kv, past);
            }
            kv.advance(layer, count);
            hs.swap();
        } catch (OrtException e) {
            throw new SkipperException("layer " + layer + ": cannot create tensors: " + oneLine(e.getMessage()), e);
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * Checks a layer index, the rows and the cache's room for {@code count} more rows.
     *
     * @return the layer's cached length: where the new rows go
     */
    private int appendPosition(int layer, OrtHiddenStates hs, int count, OrtKvCache kv) throws SkipperException {
        if (layer < 0 || layer >= numLayers) {
            throw new IndexOutOfBoundsException("layer " + layer + " of " + numLayers);
        }
        hs.checkRows(0, count);
        int past = kv.length(layer);
        if (count > kv.maxSeq() - past) {
            throw new SkipperException("layer " + layer + ": " + past + " cached + " + count
                    + " new tokens exceed the KV cache of " + kv.maxSeq());
        }
        return past;
    }

    /** head_major_shared: every tensor already exists; only the two lengths are rewritten. */
    private void layerShared(int layer, OrtHiddenStates hs, int count, OrtKvCache kv, int past)
            throws OrtException, SkipperException {
        Map<String, OnnxTensorLike> in = hs.layerInputs;
        Map<String, OnnxValue> out = hs.layerOutputs;
        putShared(layer, hs, count, kv, past, in, out);
        out.put(HIDDEN_OUT, hs.otherHidden(count));
        run(layers[layer], in, out, layer);
    }

    /**
     * head_major_shared inputs of a layer or K/V-only graph, and the cache as its in-place present
     * outputs (GroupQueryAttention appends to the same memory).
     */
    private void putShared(int layer, OrtHiddenStates hs, int count, OrtKvCache kv, int past,
                           Map<String, OnnxTensorLike> in, Map<String, OnnxValue> out) throws OrtException {
        OnnxTensor keys = kv.whole(layer, false);
        OnnxTensor values = kv.whole(layer, true);
        hs.lengths(past, count);
        in.put(HIDDEN, hs.currentHidden(count));
        in.put(PAST_KEY, keys);
        in.put(PAST_VALUE, values);
        in.put(SEQLENS_K, hs.seqlensK());
        in.put(TOTAL_SEQUENCE_LENGTH, hs.totalSequenceLength());
        in.put(COS_CACHE, rope.cos());
        in.put(SIN_CACHE, rope.sin());
        out.put(PRESENT_KEY, keys);
        out.put(PRESENT_VALUE, values);
    }

    /** sequence_major: views over the valid prefix and the new rows, made for this call. */
    private void layerSequenceMajor(int layer, OrtHiddenStates hs, int count, OrtKvCache kv, int past)
            throws OrtException, SkipperException {
        OnnxTensor pastKey = null;
        OnnxTensor pastValue = null;
        OnnxTensor newKey = null;
        OnnxTensor newValue = null;
        try {
            pastKey = kv.rows(layer, false, 0, past);
            pastValue = kv.rows(layer, true, 0, past);
            newKey = kv.rows(layer, false, past, count);
            newValue = kv.rows(layer, true, past, count);
            Map<String, OnnxTensorLike> in = hs.layerInputs;
            Map<String, OnnxValue> out = hs.layerOutputs;
            in.put(HIDDEN, hs.currentHidden(count));
            in.put(POSITION_IDS, hs.positions(past, count));
            in.put(PAST_KEY, pastKey);
            in.put(PAST_VALUE, pastValue);
            out.put(HIDDEN_OUT, hs.otherHidden(count));
            out.put(KEY, newKey);
            out.put(VALUE, newValue);
            run(layers[layer], in, out, layer);
        } finally {
            Tensors.closeQuietly(pastKey);
            Tensors.closeQuietly(pastValue);
            Tensors.closeQuietly(newKey);
            Tensors.closeQuietly(newValue);
        }
    }

    @Override
    public void head(HiddenStates hidden, int row, int count, float[] logits) throws SkipperException {
        OrtHiddenStates hs = hidden(hidden);
        hs.checkRows(row, count);
        if (logits.length < (long) count * vocab) {
            throw new IllegalArgumentException("logits need " + ((long) count * vocab) + " floats, got " + logits.length);
        }
        OnnxTensor rows = null;
        lock.readLock().lock();
        try {
            ensureOpen();
            rows = row == 0 ? null : hs.currentHiddenAt(row, count);
            hs.headInputs.put(HIDDEN, rows == null ? hs.currentHidden(count) : rows);
            hs.headOutputs.put(LOGITS, hs.logits(count));
            run(head, hs.headInputs, hs.headOutputs, numLayers);
            hs.copyLogits(logits, count);
        } catch (OrtException e) {
            throw new SkipperException("head: cannot create tensors: " + oneLine(e.getMessage()), e);
        } finally {
            lock.readLock().unlock();
            Tensors.closeQuietly(rows);
        }
    }

    @Override
    public boolean hasKvFill() {
        return kvFill != null;
    }

    @Override
    public void fillKv(int layer, HiddenStates hidden, int count, KvCache cache) throws SkipperException {
        OrtHiddenStates hs = hidden(hidden);
        OrtKvCache kv = cache(cache);
        if (kvFill == null) {
            throw new UnsupportedOperationException("bundle " + manifest.directory() + " has no kv_fill graphs");
        }
        int past = appendPosition(layer, hs, count, kv);
        lock.readLock().lock();
        OnnxTensor newKey = null;
        OnnxTensor newValue = null;
        try {
            ensureOpen();
            Map<String, OnnxTensorLike> in = hs.fillInputs;
            Map<String, OnnxValue> out = hs.fillOutputs;
            if (headMajor) {
                putShared(layer, hs, count, kv, past, in, out);
            } else {
                in.put(HIDDEN, hs.currentHidden(count));
                newKey = kv.rows(layer, false, past, count);
                newValue = kv.rows(layer, true, past, count);
                in.put(POSITION_IDS, hs.positions(past, count));
                out.put(KEY, newKey);
                out.put(VALUE, newValue);
            }
            run(kvFill[layer], in, out, numLayers + 3);
            kv.advance(layer, count);
        } catch (OrtException e) {
            throw new SkipperException("kv fill " + layer + ": cannot create tensors: " + oneLine(e.getMessage()), e);
        } finally {
            lock.readLock().unlock();
            Tensors.closeQuietly(newKey);
            Tensors.closeQuietly(newValue);
        }
    }

    @Override
    public boolean hasDraftHeads() {
        return draft != null;
    }

    @Override
    public void exitHead(int exitLayer, HiddenStates hidden, int count, float[] accept) throws SkipperException {
        OrtHiddenStates hs = hidden(hidden);
        hs.checkRows(0, count);
        OrtSession exit = exitSession(exitLayer);
        if (accept.length < count) {
            throw new IllegalArgumentException("accept needs " + count + " floats, got " + accept.length);
        }
        lock.readLock().lock();
        try {
            ensureOpen();
            hs.exitInputs.put(HIDDEN, hs.currentHidden(count));
            hs.exitOutputs.put(HIDDEN_OUT, hs.otherHidden(count));
            hs.exitOutputs.put(ACCEPT_PROB, hs.accept(count));
            run(exit, hs.exitInputs, hs.exitOutputs, numLayers + 1);
            hs.swap();
            hs.copyAccept(accept, count);
        } catch (OrtException e) {
            throw new SkipperException("exit head " + exitLayer + ": cannot create tensors: " + oneLine(e.getMessage()), e);
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public void draftHead(HiddenStates hidden, int count, float[] logits) throws SkipperException {
        OrtHiddenStates hs = hidden(hidden);
        hs.checkRows(0, count);
        if (draft == null) {
            throw new UnsupportedOperationException("bundle " + manifest.directory() + " has no draft heads");
        }
        if (logits.length < (long) count * draft.vocab().length) {
            throw new IllegalArgumentException("draft logits need " + ((long) count * draft.vocab().length)
                    + " floats, got " + logits.length);
        }
        lock.readLock().lock();
        try {
            ensureOpen();
            hs.draftInputs.put(HIDDEN, hs.currentHidden(count));
            hs.draftOutputs.put(LOGITS, hs.draftLogits(count));
            run(draft.head(), hs.draftInputs, hs.draftOutputs, numLayers + 2);
            hs.copyDraftLogits(logits, count);
        } catch (OrtException e) {
            throw new SkipperException("draft head: cannot create tensors: " + oneLine(e.getMessage()), e);
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public int[] draftVocabulary() {
        if (draft == null) {
            throw new UnsupportedOperationException("bundle " + manifest.directory() + " has no draft heads");
        }
        return draft.vocab().clone();
    }

    private OrtSession exitSession(int exitLayer) {
        if (draft == null) {
            throw new UnsupportedOperationException("bundle " + manifest.directory() + " has no exit heads");
        }
        if (exitLayer < 0 || exitLayer >= numLayers || draft.exits()[exitLayer] == null) {
            throw new IllegalArgumentException("no exit head after " + exitLayer + " layers in " + manifest.directory());
        }
        return draft.exits()[exitLayer];
    }

    @Override
    public void copyRows(HiddenStates from, int fromRow, HiddenStates to, int toRow, int count) {
        OrtHiddenStates src = hidden(from);
        OrtHiddenStates dst = hidden(to);
        src.checkRows(fromRow, count);
        dst.checkRows(toRow, count);
        src.copyRowsTo(fromRow, dst, toRow, count);
    }

    /**
     * Closes every session; waits for calls in progress. Idempotent. The shared environment stays
     * (it is process-wide).
     */
    @Override
    public void close() {
        lock.writeLock().lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            List<OrtSession> all = new ArrayList<>(numLayers + 2);
            all.add(embed);
            all.addAll(List.of(layers));
            all.add(head);
            if (kvFill != null) {
                all.addAll(List.of(kvFill));
            }
            if (draft != null) {
                for (OrtSession e : draft.exits()) {
                    if (e != null) {
                        all.add(e);
                    }
                }
                all.add(draft.head());
            }
            closeAll(all);
            closeQuietly(rope);
        } finally {
            lock.writeLock().unlock();
        }
    }

    /**
     * Runs one graph on staged inputs and pinned outputs (the maps keep their entries for the next
     * run of the same graph kind: its puts replace values without allocating).
     *
     * @param graph -1 for embed, a layer index, numLayers for the head, +1 an exit head, +2 the draft
     *     head (for the error message,
     *     built only on failure so that a step allocates no strings)
     */
    private void run(OrtSession session, Map<String, OnnxTensorLike> inputs, Map<String, OnnxValue> outputs, int graph)
            throws SkipperException {
        long start = System.nanoTime(); // two clock reads per run: ~50 ns against 15-25 us of JNI

        try {
            // Every output is pinned: the results are already in our buffers. Closing the Result
            // releases nothing of ours (pinned outputs are not owned by it).
            session.run(inputs, outputs).close();
        } catch (OrtException e) {
            String what = graph < 0 ? "embed" : graph == numLayers ? "head" : graph == numLayers + 1 ? "exit head"
                    : graph == numLayers + 2 ? "draft head" : graph == numLayers + 3 ? "kv fill" : "layer " + graph;
            throw new SkipperException(what + ": ONNX Runtime failed: " + oneLine(e.getMessage()), e);
        } finally {
            runNanos.add(System.nanoTime() - start);
        }
    }

    /** {@inheritDoc} Measured around every {@code OrtSession.run}. */
    @Override
    public long nativeNanos() {
        return runNanos.sum();
    }

    private OrtHiddenStates hidden(HiddenStates hidden) {
        if (!(hidden instanceof OrtHiddenStates hs) || hs.owner() != this) {
            throw new IllegalArgumentException("hidden states were not created by this runner");
        }
        hs.ensureOpen();
        return hs;
    }

    private OrtKvCache cache(KvCache cache) {
        if (!(cache instanceof OrtKvCache kv) || kv.owner() != this) {
            throw new IllegalArgumentException("KV cache was not created by this runner");
        }
        kv.ensureOpen();
        return kv;
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("model runner is closed");
        }
    }

    private static void closeAll(List<OrtSession> sessions) {
        for (OrtSession s : sessions) {
            try {
                s.close();
            } catch (OrtException e) {
                // Nothing to do at close time: the native session is gone either way.
            }
        }
    }

    private static void closeQuietly(RopeTables rope) {
        if (rope != null) {
            rope.close();
        }
    }

    private static String oneLine(String message) {
        return message == null ? "" : message.replace('\n', ' ').replace('\r', ' ');
    }

    /** @return whether {@link #close()} was called */
    boolean isClosed() {
        return closed;
    }
}
