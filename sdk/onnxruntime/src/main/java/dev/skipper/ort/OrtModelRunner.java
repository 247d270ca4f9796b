package dev.skipper.ort;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxTensorLike;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.bundle.GraphContract;
import dev.skipper.runtime.AbstractModelRunner;
import dev.skipper.runtime.BundleTables;
import dev.skipper.runtime.KvGeometry;
import java.nio.file.Path;
import dev.skipper.runtime.profiles.ProfilePlan.GraphKind;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.LongAdder;
import static dev.skipper.bundle.GraphContract.ACCEPT_PROB;
import static dev.skipper.bundle.GraphContract.COS_CACHE;
import static dev.skipper.bundle.GraphContract.EMBEDDED;
import static dev.skipper.bundle.GraphContract.FEATURE;
import static dev.skipper.bundle.GraphContract.FEATURE_OUT;
import static dev.skipper.bundle.GraphContract.HIDDEN;
import static dev.skipper.bundle.GraphContract.HIDDEN_OUT;
import static dev.skipper.bundle.GraphContract.INPUT_IDS;
import static dev.skipper.bundle.GraphContract.KEY;
import static dev.skipper.bundle.GraphContract.LOGITS;
import static dev.skipper.bundle.GraphContract.PAST_KEY;
import static dev.skipper.bundle.GraphContract.PAST_VALUE;
import static dev.skipper.bundle.GraphContract.POSITION_IDS;
import static dev.skipper.bundle.GraphContract.PRESENT_KEY;
import static dev.skipper.bundle.GraphContract.PRESENT_VALUE;
import static dev.skipper.bundle.GraphContract.SEQLENS_K;
import static dev.skipper.bundle.GraphContract.SIN_CACHE;
import static dev.skipper.bundle.GraphContract.TOTAL_SEQUENCE_LENGTH;
import static dev.skipper.bundle.GraphContract.VALUE;

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
 * <p>Argument checks, KV lengths and close semantics are {@link AbstractModelRunner}'s: this class
 * holds only ONNX Runtime calls and their bindings. Thread safety: sessions accept concurrent
 * {@code run()} calls and all per-sequence state is in the cache and hidden-state objects, so
 * different threads may run different sequences at once.
 */
public final class OrtModelRunner extends AbstractModelRunner<OrtHiddenStates, OrtKvCache> {

    private final LongAdder runNanos = new LongAdder(); // time inside OrtSession.run, all threads

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
    // the trained feature drafter, or null: feature, embedded + a layer's cache inputs ->
    // feature_out, logits [1, S, N] + the layer's cache outputs
    private final OrtSession featureDrafter;
    private final int hiddenSize;
    private final boolean fp16;
    private final boolean headMajor; // kv_cache.layout head_major_shared
    private final RopeTables rope;   // head_major_shared: cos/sin inputs shared by every layer and sequence; else null

    /**
     * The bundle's early-exit draft graphs.
     *
     * @param exits {@code [numLayers]} exit graph after that many layers (hidden -> hidden_out,
     *     accept_prob), null where none
     * @param head hidden [1, S, H] -> logits [1, S, N] over the draft vocabulary
     */
    private record DraftHeads(OrtSession[] exits, OrtSession head) {
    }

    private OrtModelRunner(BundleManifest manifest, OrtEnvironment env, OrtSession embed, OrtSession[] layers,
                           OrtSession head, OrtSession[] kvFill, DraftHeads draft, int[] draftVocab,
                           OrtSession featureDrafter, RopeTables rope) {
        super(manifest, OrtHiddenStates.class, OrtKvCache.class, draftVocab, kvFill != null);
        this.featureDrafter = featureDrafter;
        this.env = env;
        this.embed = embed;
        this.layers = layers;
        this.head = head;
        this.draft = draft;
        this.kvFill = kvFill;
        this.hiddenSize = manifest.model().hiddenSize();
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
        return open(bundleDir, manifest, shared, SessionSetup.CPU);
    }

    /**
     * Creates the sessions of a bundle with an execution provider.
     *
     * @param bundleDir the bundle directory (for messages; graphs are resolved in {@code manifest.directory()})
     * @param manifest its validated manifest
     * @param shared the environment and thread settings
     * @param setup what each graph's session options get (a GPU provider); closed here
     * @return the runner
     * @throws SkipperException if a graph cannot be loaded or does not have the expected I/O
     */
    static OrtModelRunner open(Path bundleDir, BundleManifest manifest, SharedEnvironment shared, SessionSetup setup)
            throws SkipperException {
        BundleManifest.DType activations = manifest.weights().activations();
        if (activations != BundleManifest.DType.FLOAT32 && activations != BundleManifest.DType.FLOAT16) {
            throw new SkipperException("the cpu backend runs float32 or float16 activations, not "
                    + activations.yamlName());
        }
        BundleManifest.GraphsSpec graphs = manifest.graphs();
        boolean headMajor = manifest.kvCache().layout() == BundleManifest.KvLayout.HEAD_MAJOR_SHARED;
        GraphContract contract = GraphContract.of(manifest);
        List<OrtSession> opened = new ArrayList<>();
        RopeTables rope = null;
        try (setup; GraphOptions options = new GraphOptions(shared, manifest, setup)) {
            if (headMajor) {
                rope = RopeTables.load(shared.env(), manifest);
            }
            OrtSession embed = load(shared.env(), manifest, graphs.embed().file(), options.of(GraphKind.EMBED), opened,
                    contract.embed());
            OrtSession[] layers = new OrtSession[graphs.layers().size()];
            for (int l = 0; l < layers.length; l++) {
                layers[l] = load(shared.env(), manifest, graphs.layers().get(l).file(), options.of(GraphKind.LAYER),
                        opened, contract.layer());
            }
            OrtSession head = load(shared.env(), manifest, graphs.head().file(), options.of(GraphKind.HIDDEN_ONLY),
                    opened, contract.head());
            OrtSession[] kvFill = null;
            if (!graphs.kvFill().isEmpty()) {
                kvFill = new OrtSession[graphs.kvFill().size()];
                for (int l = 0; l < kvFill.length; l++) {
                    kvFill[l] = load(shared.env(), manifest, graphs.kvFill().get(l).file(),
                            options.of(GraphKind.KV_FILL), opened, contract.kvFill());
                }
            }
            DraftHeads draft = manifest.draftHeads() == null ? null
                    : loadDraftHeads(shared.env(), manifest, contract, options.of(GraphKind.HIDDEN_ONLY), opened);
            int[] draftVocab = draft == null ? null : BundleTables.draftVocabulary(manifest);
            OrtSession feature = draft == null || manifest.featureDrafter() == null ? null
                    : load(shared.env(), manifest, manifest.featureDrafter().graph().file(), options.of(GraphKind.LAYER),
                            opened, contract.featureDrafter(manifest.featureDrafter().vocabSize()));
            return new OrtModelRunner(manifest, shared.env(), embed, layers, head, kvFill, draft, draftVocab, feature,
                    rope);
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

    /** Session options per kind of graph (a GPU provider's shape ranges differ by kind), made on first use. */
    private static final class GraphOptions implements AutoCloseable {
        private final SharedEnvironment shared;
        private final BundleManifest manifest;
        private final SessionSetup setup;
        private final Map<GraphKind, OrtSession.SessionOptions> byKind = new EnumMap<>(GraphKind.class);

        GraphOptions(SharedEnvironment shared, BundleManifest manifest, SessionSetup setup) {
            this.shared = shared;
            this.manifest = manifest;
            this.setup = setup;
        }

        OrtSession.SessionOptions of(GraphKind kind) throws OrtException {
            OrtSession.SessionOptions so = byKind.get(kind);
            if (so == null) {
                so = shared.sessionOptions(manifest.onnxruntime().sessionConfig());
                byKind.put(kind, so);
                setup.apply(so, kind);
            }
            return so;
        }

        @Override
        public void close() {
            for (OrtSession.SessionOptions so : byKind.values()) {
                so.close();
            }
        }
    }

    private static DraftHeads loadDraftHeads(OrtEnvironment env, BundleManifest manifest, GraphContract contract,
                                             OrtSession.SessionOptions options, List<OrtSession> opened)
            throws SkipperException {
        BundleManifest.DraftHeadsSpec spec = manifest.draftHeads();
        OrtSession[] exits = new OrtSession[manifest.model().numLayers()];
        for (BundleManifest.ExitHeadSpec e : spec.exits()) {
            exits[e.layer()] = load(env, manifest, e.graph().file(), options, opened, contract.exitHead());
        }
        OrtSession head = load(env, manifest, spec.head().file(), options, opened,
                contract.draftHead(spec.vocabSize()));
        return new DraftHeads(exits, head);
    }

    /** Loads one graph by file path (resolved in the manifest's validated directory) and checks its I/O names. */
    private static OrtSession load(OrtEnvironment env, BundleManifest manifest, String file,
                                   OrtSession.SessionOptions options, List<OrtSession> opened, GraphContract.Io io)
            throws SkipperException {
        Set<String> inputs = io.inputNames();
        Set<String> outputs = io.outputNames();
        Path path = manifest.resolve(file);
        OrtSession session;
        try {
            session = env.createSession(path.toString(), options);
        } catch (OrtException e) {
            throw new SkipperException("ONNX Runtime cannot load " + path + ": " + SkipperException.oneLine(e.getMessage()), e);
        }
        opened.add(session);
        if (!session.getInputNames().equals(inputs) || !session.getOutputNames().equals(outputs)) {
            throw new SkipperException(path + " has inputs " + session.getInputNames() + " and outputs "
                    + session.getOutputNames() + ", expected " + inputs + " and " + outputs);
        }
        return session;
    }

    @Override
    protected OrtKvCache createKvCache(KvGeometry geometry) throws SkipperException {
        return new OrtKvCache(env, this, geometry);
    }

    @Override
    protected OrtHiddenStates createHiddenStates(int maxTokens) throws SkipperException {
        return new OrtHiddenStates(env, this, maxTokens, hiddenSize, vocab, draftVocabularySize(), fp16);
    }

    @Override
    protected void runEmbed(int[] tokens, int offset, int count, OrtHiddenStates hs) throws SkipperException {
        try {
            hs.embedInputs.put(INPUT_IDS, hs.inputIds(tokens, offset, count));
            hs.embedOutputs.put(HIDDEN, hs.currentHidden(count));
            run(embed, hs.embedInputs, hs.embedOutputs, -1);
        } catch (OrtException e) {
            throw new SkipperException("embed: cannot create tensors: " + SkipperException.oneLine(e.getMessage()), e);
        }
    }

    @Override
    protected void runLayer(int layer, OrtHiddenStates hs, int count, OrtKvCache kv, int past) throws SkipperException {
        try {
            if (headMajor) {
                layerShared(layer, hs, count, kv, past);
            } else {
                layerSequenceMajor(layer, hs, count, kv, past);
            }
            hs.swap();
        } catch (OrtException e) {
            throw new SkipperException("layer " + layer + ": cannot create tensors: " + SkipperException.oneLine(e.getMessage()), e);
        }
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
        in.put(HIDDEN, hs.currentHidden(count));
        putSharedCache(layer, hs, count, kv, past, in, out);
    }

    /** head_major_shared cache, lengths and rope inputs (everything of {@link #putShared} but the hidden rows). */
    private void putSharedCache(int layer, OrtHiddenStates hs, int count, OrtKvCache kv, int past,
                                Map<String, OnnxTensorLike> in, Map<String, OnnxValue> out) throws OrtException {
        OnnxTensor keys = kv.whole(layer, false);
        OnnxTensor values = kv.whole(layer, true);
        hs.lengths(past, count);
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
    protected void runHead(OrtHiddenStates hs, int row, int count, float[] logits) throws SkipperException {
        OnnxTensor rows = null;
        try {
            rows = row == 0 ? null : hs.currentHiddenAt(row, count);
            hs.headInputs.put(HIDDEN, rows == null ? hs.currentHidden(count) : rows);
            hs.headOutputs.put(LOGITS, hs.logits(count));
            run(head, hs.headInputs, hs.headOutputs, numLayers);
            hs.copyLogits(logits, count);
        } catch (OrtException e) {
            throw new SkipperException("head: cannot create tensors: " + SkipperException.oneLine(e.getMessage()), e);
        } finally {
            Tensors.closeQuietly(rows);
        }
    }

    @Override
    protected void runFillKv(int layer, OrtHiddenStates hs, int count, OrtKvCache kv, int past) throws SkipperException {
        OnnxTensor newKey = null;
        OnnxTensor newValue = null;
        try {
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
        } catch (OrtException e) {
            throw new SkipperException("kv fill " + layer + ": cannot create tensors: " + SkipperException.oneLine(e.getMessage()), e);
        } finally {
            Tensors.closeQuietly(newKey);
            Tensors.closeQuietly(newValue);
        }
    }

    @Override
    protected void runExitHead(int exitLayer, OrtHiddenStates hs, int count, float[] accept) throws SkipperException {
        try {
            hs.exitInputs.put(HIDDEN, hs.currentHidden(count));
            hs.exitOutputs.put(HIDDEN_OUT, hs.otherHidden(count));
            hs.exitOutputs.put(ACCEPT_PROB, hs.accept(count));
            run(draft.exits()[exitLayer], hs.exitInputs, hs.exitOutputs, numLayers + 1);
            hs.swap();
            hs.copyAccept(accept, count);
        } catch (OrtException e) {
            throw new SkipperException("exit head " + exitLayer + ": cannot create tensors: " + SkipperException.oneLine(e.getMessage()), e);
        }
    }

    @Override
    protected void runDraftHead(OrtHiddenStates hs, int count, float[] logits) throws SkipperException {
        try {
            hs.draftInputs.put(HIDDEN, hs.currentHidden(count));
            hs.draftOutputs.put(LOGITS, hs.draftLogits(count));
            run(draft.head(), hs.draftInputs, hs.draftOutputs, numLayers + 2);
            hs.copyDraftLogits(logits, count);
        } catch (OrtException e) {
            throw new SkipperException("draft head: cannot create tensors: " + SkipperException.oneLine(e.getMessage()), e);
        }
    }

    @Override
    protected boolean loadedFeatureDrafter() {
        return featureDrafter != null;
    }

    @Override
    protected void runFeatureDraft(OrtHiddenStates features, int featureRow, OrtHiddenStates embedded, int count,
                                   OrtKvCache kv, int past, OrtHiddenStates out, float[] logits) throws SkipperException {
        OnnxTensor rows = null;
        OnnxTensor pastKey = null;
        OnnxTensor pastValue = null;
        OnnxTensor newKey = null;
        OnnxTensor newValue = null;
        try {
            Map<String, OnnxTensorLike> in = embedded.featureInputs;
            Map<String, OnnxValue> outs = embedded.featureOutputs;
            rows = featureRow == 0 ? null : features.currentHiddenAt(featureRow, count);
            in.put(FEATURE, rows == null ? features.currentHidden(count) : rows);
            in.put(EMBEDDED, embedded.currentHidden(count));
            if (headMajor) {
                putSharedCache(0, embedded, count, kv, past, in, outs);
            } else {
                pastKey = kv.rows(0, false, 0, past);
                pastValue = kv.rows(0, true, 0, past);
                newKey = kv.rows(0, false, past, count);
                newValue = kv.rows(0, true, past, count);
                in.put(POSITION_IDS, embedded.positions(past, count));
                in.put(PAST_KEY, pastKey);
                in.put(PAST_VALUE, pastValue);
                outs.put(KEY, newKey);
                outs.put(VALUE, newValue);
            }
            outs.put(FEATURE_OUT, out.currentHidden(count));
            outs.put(LOGITS, out.draftLogits(count));
            run(featureDrafter, in, outs, numLayers + 4);
            out.copyDraftLogits(logits, count);
        } catch (OrtException e) {
            throw new SkipperException("feature drafter: cannot create tensors: " + SkipperException.oneLine(e.getMessage()), e);
        } finally {
            Tensors.closeQuietly(rows);
            Tensors.closeQuietly(pastKey);
            Tensors.closeQuietly(pastValue);
            Tensors.closeQuietly(newKey);
            Tensors.closeQuietly(newValue);
        }
    }

    @Override
    protected void runCopyRows(OrtHiddenStates from, int fromRow, OrtHiddenStates to, int toRow, int count) {
        from.copyRowsTo(fromRow, to, toRow, count);
    }

    /** Closes every session. The shared environment stays (it is process-wide). */
    @Override
    protected void closeNative() {
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
        if (featureDrafter != null) {
            all.add(featureDrafter);
        }
        closeAll(all);
        closeQuietly(rope);
    }

    /**
     * Runs one graph on staged inputs and pinned outputs (the maps keep their entries for the next
     * run of the same graph kind: its puts replace values without allocating).
     *
     * @param graph -1 for embed, a layer index, numLayers for the head, +1 an exit head, +2 the draft
     *     head, +3 a K/V fill, +4 the feature drafter (for the error message,
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
                    : graph == numLayers + 2 ? "draft head" : graph == numLayers + 3 ? "kv fill"
                    : graph == numLayers + 4 ? "feature drafter" : "layer " + graph;
            throw new SkipperException(what + ": ONNX Runtime failed: " + SkipperException.oneLine(e.getMessage()), e);
        } finally {
            runNanos.add(System.nanoTime() - start);
        }
    }

    /** {@inheritDoc} Measured around every {@code OrtSession.run}. */
    @Override
    public long nativeNanos() {
        return runNanos.sum();
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
}
