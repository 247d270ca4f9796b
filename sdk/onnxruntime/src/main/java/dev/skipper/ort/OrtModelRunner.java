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
import dev.skipper.runtime.EmbeddingTable;
import dev.skipper.runtime.BundleTables;
import dev.skipper.runtime.HostMemory;
import dev.skipper.runtime.KvGeometry;
import dev.skipper.runtime.MemoryPreflight;
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
    private final OrtSession embed;    // input_ids [1, S] -> hidden [1, S, H]; null when the table is read directly
    private final EmbeddingTable table; // [vocab][hidden] rows by positional reads (graphs.embed.table), or null
    // [layers] sequence_major: hidden, position_ids, past_key, past_value -> hidden_out, key, value;
    // head_major_shared: hidden, past_key, past_value, seqlens_k, total_sequence_length, cos_cache,
    // sin_cache -> hidden_out, present_key, present_value
    private final OrtSession[] layers;
    private final OrtSession head;     // hidden [1, S, H] -> logits [1, S, V] float32
    // The graphs only speculation uses are loaded the first time a round needs them (a bundle's
    // kv_fill, exit heads and feature drafter are ~10 % of its weights and most deployments never
    // run them); on a GPU provider, at open (an engine build mid-generation would stall it).
    private final OptionalGraphs optional;
    // [layers] K/V only (graphs.kv_fill), null until loaded: the layer's inputs (sequence_major:
    // hidden, position_ids) -> present_key, present_value (sequence_major: key, value)
    private volatile OrtSession[] kvFill;
    private volatile DraftHeads draft;    // calibrated exit heads, null until loaded
    // the trained feature drafter, null until loaded: feature, embedded + a layer's cache inputs ->
    // feature_out, logits [1, S, N] + the layer's cache outputs
    private volatile OrtSession featureDrafter;
    private final boolean hasFeatureGraph;
    private final boolean growKvCache; // KV caches start small and grow with their sequence (BackendOptions)
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

    private OrtModelRunner(BundleManifest manifest, OrtEnvironment env, OrtSession embed, EmbeddingTable table,
                           OrtSession[] layers, OrtSession head, OptionalGraphs optional, int[] draftVocab,
                           RopeTables rope, boolean growKvCache) {
        super(manifest, OrtHiddenStates.class, OrtKvCache.class, draftVocab, !manifest.graphs().kvFill().isEmpty());
        this.growKvCache = growKvCache;
        this.optional = optional;
        this.hasFeatureGraph = manifest.draftHeads() != null && manifest.featureDrafter() != null;
        this.env = env;
        this.embed = embed;
        this.table = table;
        this.layers = layers;
        this.head = head;
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
     * @param setup what each graph's session options get (a GPU provider); the runner keeps it for the
     *     graphs it loads on first use and closes it (closed here when opening fails)
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
        if (setup == SessionSetup.CPU) {
            long available = HostMemory.availableBytes();
            hostPreflight(manifest).check(1, available < 0 ? Long.MAX_VALUE : available, manifest.model().maxPosition(),
                    "this machine (" + HostMemory.limitName() + ")");
        }
        List<OrtSession> opened = new ArrayList<>();
        RopeTables rope = null;
        EmbeddingTable table = null;
        boolean owned = false; // once the runner exists, it owns the sessions, tables and setup
        try (GraphOptions options = new GraphOptions(shared, manifest, setup)) {
            if (headMajor) {
                rope = RopeTables.load(shared.env(), manifest);
            }
            // A described table is read row by row: no session, no mapped table (resident memory).
            table = EmbeddingTable.open(manifest);
            OrtSession embed = table != null ? null : load(shared.env(), manifest, graphs.embed().file(),
                    options.of(GraphKind.EMBED), opened, contract.embed());
            // The head first: ONNX Runtime holds its source weights (the vocabulary table, 28 MB for
            // SmolLM2) next to their prepacked copy while it loads, and that transient sets the
            // process's peak when the 30 layers are already resident.
            OrtSession head = load(shared.env(), manifest, graphs.head().file(), options.of(GraphKind.HIDDEN_ONLY),
                    opened, contract.head());
            OrtSession[] layers = new OrtSession[graphs.layers().size()];
            for (int l = 0; l < layers.length; l++) {
                layers[l] = load(shared.env(), manifest, graphs.layers().get(l).file(), options.of(GraphKind.LAYER),
                        opened, contract.layer());
            }
            int[] draftVocab = manifest.draftHeads() == null ? null : BundleTables.draftVocabulary(manifest);
            OptionalGraphs optional = new OptionalGraphs(shared, manifest, setup, contract);
            OrtModelRunner runner = new OrtModelRunner(manifest, shared.env(), embed, table, layers, head, optional,
                    draftVocab, rope, shared.growKvCache());
            opened.clear();
            rope = null;
            table = null;
            owned = true;
            if (setup != SessionSetup.CPU) {
                try {
                    runner.kvFillSessions();
                    runner.draftHeads();
                    runner.featureSession();
                } catch (SkipperException | RuntimeException e) {
                    runner.close();
                    throw e;
                }
            }
            return runner;
        } catch (OrtException e) {
            closeAll(opened);
            closeQuietly(rope);
            closeQuietly(table);
            if (!owned) {
                setup.close();
            }
            throw new SkipperException("cannot set up ONNX Runtime sessions for " + bundleDir + ": " + e.getMessage(), e);
        } catch (SkipperException | RuntimeException e) {
            closeAll(opened);
            closeQuietly(rope);
            closeQuietly(table);
            if (!owned) {
                setup.close();
            }
            throw e;
        }
    }

    /**
     * The optional graphs' loader: session options made per load from the shared settings and the
     * backend's setup, which it keeps (and closes with the runner).
     */
    private static final class OptionalGraphs {
        private final SharedEnvironment shared;
        private final BundleManifest manifest;
        private final SessionSetup setup;
        private final GraphContract contract;
        private final List<OrtSession> loaded = new ArrayList<>(); // guarded by this
        private boolean closed;                                    // guarded by this

        OptionalGraphs(SharedEnvironment shared, BundleManifest manifest, SessionSetup setup, GraphContract contract) {
            this.shared = shared;
            this.manifest = manifest;
            this.setup = setup;
            this.contract = contract;
        }

        /** Loads graphs with one kind's options; all of them or none. */
        synchronized OrtSession[] load(GraphKind kind, List<String> files, List<GraphContract.Io> ios)
                throws SkipperException {
            if (closed) {
                throw new SkipperException("the model runner is closed");
            }
            List<OrtSession> opened = new ArrayList<>();
            try (GraphOptions options = new GraphOptions(shared, manifest, setup)) {
                OrtSession[] out = new OrtSession[files.size()];
                for (int i = 0; i < out.length; i++) {
                    out[i] = files.get(i) == null ? null
                            : OrtModelRunner.load(shared.env(), manifest, files.get(i), options.of(kind), opened, ios.get(i));
                }
                loaded.addAll(opened);
                return out;
            } catch (OrtException e) {
                closeAll(opened);
                throw new SkipperException("cannot set up ONNX Runtime sessions for " + manifest.directory() + ": "
                        + SkipperException.oneLine(e.getMessage()), e);
            } catch (SkipperException | RuntimeException e) {
                closeAll(opened);
                throw e;
            }
        }

        GraphContract contract() {
            return contract;
        }

        synchronized void close() {
            closed = true;
            closeAll(loaded);
            loaded.clear();
            setup.close();
        }
    }

    /** @return the kv_fill sessions, loading them on first use */
    private OrtSession[] kvFillSessions() throws SkipperException {
        OrtSession[] k = kvFill;
        if (k == null && hasKvFill()) {
            synchronized (optional) {
                k = kvFill;
                if (k == null) {
                    List<String> files = new ArrayList<>();
                    for (BundleManifest.GraphSpec g : manifest.graphs().kvFill()) {
                        files.add(g.file());
                    }
                    k = optional.load(GraphKind.KV_FILL, files,
                            java.util.Collections.nCopies(files.size(), optional.contract().kvFill()));
                    kvFill = k;
                }
            }
        }
        return k;
    }

    /** @return the exit heads and draft head, loading them on first use; null when the bundle has none */
    private DraftHeads draftHeads() throws SkipperException {
        DraftHeads d = draft;
        if (d == null && manifest.draftHeads() != null) {
            synchronized (optional) {
                d = draft;
                if (d == null) {
                    BundleManifest.DraftHeadsSpec spec = manifest.draftHeads();
                    List<String> files = new ArrayList<>(java.util.Collections.nCopies(numLayers + 1, (String) null));
                    List<GraphContract.Io> ios = new ArrayList<>(java.util.Collections.nCopies(numLayers + 1,
                            optional.contract().exitHead()));
                    for (BundleManifest.ExitHeadSpec e : spec.exits()) {
                        files.set(e.layer(), e.graph().file());
                    }
                    files.set(numLayers, spec.head().file());
                    ios.set(numLayers, optional.contract().draftHead(spec.vocabSize()));
                    OrtSession[] all = optional.load(GraphKind.HIDDEN_ONLY, files, ios);
                    d = new DraftHeads(java.util.Arrays.copyOf(all, numLayers), all[numLayers]);
                    draft = d;
                }
            }
        }
        return d;
    }

    /** @return the feature drafter's session, loading it on first use; null when the bundle has none */
    private OrtSession featureSession() throws SkipperException {
        OrtSession f = featureDrafter;
        if (f == null && hasFeatureGraph) {
            synchronized (optional) {
                f = featureDrafter;
                if (f == null) {
                    f = optional.load(GraphKind.LAYER, List.of(manifest.featureDrafter().graph().file()),
                            List.of(optional.contract().featureDrafter(manifest.featureDrafter().vocabSize())))[0];
                    featureDrafter = f;
                }
            }
        }
        return f;
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

    /**
     * The host-RAM check of the cpu backend: the graphs loaded at open (their files' sizes and the
     * head's named data file; ONNX Runtime's prepacked copies of 4-bit weights are ~1.1x that) and
     * one token of KV per layer.
     *
     * @param manifest the bundle
     * @return the preflight
     * @throws SkipperException when a graph file cannot be sized
     */
    static MemoryPreflight hostPreflight(BundleManifest manifest) throws SkipperException {
        List<String> files = new ArrayList<>();
        files.add(manifest.graphs().embed().file());
        for (BundleManifest.GraphSpec g : manifest.graphs().layers()) {
            files.add(g.file());
        }
        files.add(manifest.graphs().head().file());
        // A tied head prepacks the embedding table's bytes it names (embed.bin): resident like a copy.
        String headData = manifest.graphs().head().data();
        if (headData != null) {
            files.add(headData);
        }
        long weights = 0;
        for (String f : files) {
            try {
                weights += java.nio.file.Files.size(manifest.resolve(f));
            } catch (java.io.IOException e) {
                throw new SkipperException("cannot size " + manifest.resolve(f) + ": " + e.getMessage(), e);
            }
        }
        KvGeometry one = KvGeometry.of(manifest, 1);
        return new MemoryPreflight(weights, 2L * one.numLayers() * one.rowBytes(), 0);
    }

    @Override
    protected OrtKvCache createKvCache(KvGeometry geometry) throws SkipperException {
        long available = HostMemory.availableBytes();
        if (available >= 0 && geometry.totalBytes() > available) {
            long perToken = 2L * geometry.numLayers() * geometry.rowBytes();
            // The buffers hold the context plus the bundle's scratch rows: those count as workspace.
            MemoryPreflight kvOnly = new MemoryPreflight(0, perToken,
                    perToken * (geometry.bufferRows() - geometry.maxSeq()));
            kvOnly.check(geometry.maxSeq(), available, manifest.model().maxPosition(),
                    "this machine (" + HostMemory.limitName() + ") for the KV cache");
        }
        return new OrtKvCache(env, this, geometry, growKvCache ? OrtKvCache.INITIAL_ROWS : geometry.maxSeq());
    }

    @Override
    protected OrtHiddenStates createHiddenStates(int maxTokens) throws SkipperException {
        return new OrtHiddenStates(env, this, maxTokens, hiddenSize, vocab, draftVocabularySize(), fp16);
    }

    @Override
    protected void runEmbed(int[] tokens, int offset, int count, OrtHiddenStates hs) throws SkipperException {
        if (table != null) {
            table.rows(tokens, offset, count, hs.currentHiddenBytes(), 0);
            return;
        }
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
            run(kvFillSessions()[layer], in, out, numLayers + 3);
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
            run(draftHeads().exits()[exitLayer], hs.exitInputs, hs.exitOutputs, numLayers + 1);
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
            run(draftHeads().head(), hs.draftInputs, hs.draftOutputs, numLayers + 2);
            hs.copyDraftLogits(logits, count);
        } catch (OrtException e) {
            throw new SkipperException("draft head: cannot create tensors: " + SkipperException.oneLine(e.getMessage()), e);
        }
    }

    @Override
    protected boolean loadedFeatureDrafter() {
        return hasFeatureGraph;
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
            run(featureSession(), in, outs, numLayers + 4);
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
        if (embed != null) {
            all.add(embed);
        }
        all.addAll(List.of(layers));
        all.add(head);
        closeAll(all);
        optional.close(); // the optional graphs that were loaded, and the backend's setup
        closeQuietly(rope);
        closeQuietly(table);
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

    private static void closeQuietly(EmbeddingTable t) {
        if (t != null) {
            t.close();
        }
    }

    private static void closeQuietly(RopeTables rope) {
        if (rope != null) {
            rope.close();
        }
    }
}
