package dev.skipper.tensorrt;

import dev.skipper.runtime.profiles.ProfilePlan;
import dev.skipper.runtime.spi.BackendProvider;
import dev.skipper.runtime.profiles.EngineSpec;
import dev.skipper.runtime.spi.DeviceOptions;
import dev.skipper.runtime.spi.DevicePrecision;
import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.runtime.AbstractModelRunner;
import dev.skipper.runtime.BundleTables;
import dev.skipper.runtime.DirectBuffers;
import dev.skipper.runtime.KvGeometry;
import dev.skipper.runtime.MemoryPreflight;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.LongAdder;
import static dev.skipper.tensorrt.EngineSet.Binding.ACCEPT_PROB;
import static dev.skipper.tensorrt.EngineSet.Binding.EMBEDDED;
import static dev.skipper.tensorrt.EngineSet.Binding.FEATURE;
import static dev.skipper.tensorrt.EngineSet.Binding.FEATURE_OUT;
import static dev.skipper.tensorrt.EngineSet.Binding.HIDDEN;
import static dev.skipper.tensorrt.EngineSet.Binding.HIDDEN_OUT;
import static dev.skipper.tensorrt.EngineSet.Binding.INPUT_IDS;
import static dev.skipper.tensorrt.EngineSet.Binding.KEY;
import static dev.skipper.tensorrt.EngineSet.Binding.LOGITS;
import static dev.skipper.tensorrt.EngineSet.Binding.PAST_KEY;
import static dev.skipper.tensorrt.EngineSet.Binding.PAST_VALUE;
import static dev.skipper.tensorrt.EngineSet.Binding.POSITION_IDS;
import static dev.skipper.tensorrt.EngineSet.Binding.VALUE;

/**
 * Runs a bundle's engines through the {@link TrtNative} seam with every tensor in device memory.
 *
 * <p>Per call: token ids (embed) or positions (layers) are staged in page-locked memory and copied
 * up; a layer binds {@code hidden} to the current device buffer, {@code hidden_out} to the other,
 * {@code past_key}/{@code past_value} to the cache's prefix {@code [0, P)} and {@code key}/{@code
 * value} to the cache at row {@code P}: the engine writes the new K/V in place. The head copies
 * only the logits rows asked for back to the host. A call of more rows than a profile holds runs in
 * chunks (causal attention makes chunked layers exact: chunk {@code i} sees chunks {@code < i} as
 * past). Argument checks, KV lengths and close semantics are {@link AbstractModelRunner}'s.
 */
public final class TrtModelRunner extends AbstractModelRunner<TrtHiddenStates, TrtKvCache> {
    private final TrtNative nat;
    private final EngineSet engines;
    private final ProfilePlan plan;
    private final MemoryPreflight preflight;
    private final int hiddenSize;
    private final int elementBytes;
    private final LongAdder enqueueNanos = new LongAdder();

    private TrtModelRunner(BundleManifest manifest, TrtNative nat, EngineSet engines, ProfilePlan plan,
                           int[] draftVocab, MemoryPreflight preflight) {
        super(manifest, TrtHiddenStates.class, TrtKvCache.class, draftVocab, engines.hasKvFill());
        this.nat = nat;
        this.engines = engines;
        this.plan = plan;
        this.preflight = preflight;
        this.hiddenSize = manifest.model().hiddenSize();
        this.elementBytes = manifest.weights().activations() == BundleManifest.DType.FLOAT16 ? 2 : 4;
    }

    /**
     * Opens a bundle: checks that it suits TensorRT and fits the device, then reads its engines from
     * the cache or builds them.
     *
     * @param manifest the validated manifest
     * @param nat the native seam; the runner closes it
     * @param cache the engine cache
     * @param precision engine precision
     * @param progress called once per engine
     * @return the runner
     * @throws SkipperException when the bundle is of the wrong flavour, does not fit, or an engine fails
     */
    public static TrtModelRunner open(BundleManifest manifest, TrtNative nat, EngineCache cache,
                                      DevicePrecision precision, BackendProvider.Progress progress)
            throws SkipperException {
        try {
            checkBundle(manifest);
            ProfilePlan plan = ProfilePlan.of(manifest);
            MemoryPreflight preflight = preflight(manifest, plan);
            // Weights and workspace must fit before building (a build allocates them too); the KV
            // cache is checked when a session asks for one (it knows its context).
            preflight.check(1, nat.freeDeviceBytes(), manifest.model().maxPosition(), describe(nat.device()));
            boolean draft = manifest.draftHeads() != null;
            EngineSet engines = EngineSet.open(manifest, nat, cache, plan, precision, WORKSPACE_BYTES, draft, progress);
            int[] draftVocab = draft ? BundleTables.draftVocabulary(manifest) : null;
            return new TrtModelRunner(manifest, nat, engines, plan, draftVocab, preflight);
        } catch (SkipperException | RuntimeException e) {
            nat.close();
            throw e;
        }
    }

    /** Builder workspace limit per engine (TensorRT uses what it needs up to this). */
    static final long WORKSPACE_BYTES = EngineSpec.DEFAULT_WORKSPACE_BYTES;

    /**
     * @param manifest a bundle
     * @throws SkipperException when TensorRT cannot run it, naming why and what to export instead
     */
    static void checkBundle(BundleManifest manifest) throws SkipperException {
        if (manifest.flavour() != BundleManifest.Flavour.STANDARD) {
            throw new SkipperException("the tensorrt backend needs a bundle of the standard flavour (standard ONNX "
                    + "ops only; export with --flavour standard); " + manifest.directory() + " is "
                    + manifest.flavour().yamlName());
        }
        if (manifest.kvCache().layout() != BundleManifest.KvLayout.SEQUENCE_MAJOR) {
            throw new SkipperException("the tensorrt backend needs the sequence_major KV layout, "
                    + manifest.directory() + " has " + manifest.kvCache().layout());
        }
        BundleManifest.DType act = manifest.weights().activations();
        if (act != BundleManifest.DType.FLOAT32 && act != BundleManifest.DType.FLOAT16) {
            throw new SkipperException("the tensorrt backend runs float32 or float16 activations, not " + act.yamlName());
        }
        if (manifest.draftHeads() != null && act != BundleManifest.DType.FLOAT32) {
            throw new SkipperException("the tensorrt backend runs calibrated exit heads (float32) only in a float32 "
                    + "bundle; " + manifest.directory() + " has " + act.yamlName() + " activations");
        }
    }

    /**
     * The memory a bundle needs on the device, from file sizes and the model's dimensions.
     *
     * @param manifest the bundle
     * @param plan its profiles
     * @return the preflight
     * @throws SkipperException when a graph file cannot be sized
     */
    static MemoryPreflight preflight(BundleManifest manifest, ProfilePlan plan) throws SkipperException {
        long weights = 0;
        for (EngineSet.Graph g : EngineSet.graphs(manifest, manifest.draftHeads() != null)) {
            try {
                weights += Files.size(manifest.resolve(g.file()));
            } catch (java.io.IOException e) {
                throw new SkipperException("cannot size " + manifest.resolve(g.file()) + ": " + e.getMessage(), e);
            }
        }
        BundleManifest.ModelDims m = manifest.model();
        int kvBytes = manifest.kvCache().dtype() == BundleManifest.DType.FLOAT16 ? 2 : 4;
        long perToken = 2L * m.numLayers() * m.numKvHeads() * m.headDim() * kvBytes;
        // Activations of one prefill enqueue (attention scores dominate) plus one session's buffers.
        long act = (long) plan.prefillRows() * m.maxPosition() * m.numHeads() * 4L
                + 8L * plan.prefillRows() * Math.max(m.hiddenSize(), m.intermediateSize()) * 4L
                + (long) plan.verifyRows() * m.vocabSize() * 4L;
        return new MemoryPreflight(weights, perToken, act);
    }

    private static String describe(TrtNative.DeviceInfo d) {
        return "GPU " + d.ordinal() + " (" + d.name() + ")";
    }

    /** @return the engines (build-engines lists them) */
    public EngineSet engines() {
        return engines;
    }

    /** @return the device's sizes check */
    public MemoryPreflight preflight() {
        return preflight;
    }

    /** @return the device */
    public TrtNative.DeviceInfo device() {
        return nat.device();
    }

    @Override
    protected TrtKvCache createKvCache(KvGeometry geometry) throws SkipperException {
        long free = nat.freeDeviceBytes();
        if (geometry.totalBytes() > free) {
            long perToken = 2L * geometry.numLayers() * geometry.rowBytes();
            // The buffers hold the context plus the bundle's scratch rows: those count as workspace.
            MemoryPreflight kvOnly = new MemoryPreflight(0, perToken,
                    perToken * (geometry.bufferRows() - geometry.maxSeq()));
            kvOnly.check(geometry.maxSeq(), free, manifest.model().maxPosition(), describe(nat.device())
                    + " for the KV cache");
        }
        return new TrtKvCache(nat, this, geometry);
    }

    @Override
    protected TrtHiddenStates createHiddenStates(int maxTokens) throws SkipperException {
        return new TrtHiddenStates(nat, this, maxTokens, hiddenSize, elementBytes, vocab, draftVocabularySize(),
                plan.verifyRows(), engines.all().size(), engines.scratchBytes());
    }

    @Override
    protected void runEmbed(int[] tokens, int offset, int count, TrtHiddenStates hs) throws SkipperException {
        for (int i = 0; i < count; i++) {
            hs.hostIdView.put(i, tokens[offset + i]);
        }
        nat.copyToDevice(hs.hostIds, 0, hs.ids, 0, 8L * count, hs.stream);
        EngineSet.Bound e = engines.embed();
        for (int r = 0; r < count; r += plan.prefillRows()) {
            int n = Math.min(plan.prefillRows(), count - r);
            TrtNative.ExecutionContext c = hs.context(e.ordinal(), plan.profileFor(n), e);
            c.setInputShape(e.at(INPUT_IDS), shape2(hs, n));
            c.setAddress(e.at(INPUT_IDS), hs.ids, 8L * r);
            c.setAddress(e.at(HIDDEN), hs.currentHidden(), hs.rowBytes * r);
            enqueue(c, hs);
        }
    }

    @Override
    protected void runLayer(int layer, TrtHiddenStates hs, int count, TrtKvCache kv, int past) throws SkipperException {
        kv.useOn(hs.stream);
        stagePositions(hs, past, count);
        EngineSet.Bound e = engines.layer(layer);
        long kvRow = kv.geometry().rowBytes();
        for (int r = 0; r < count; r += plan.prefillRows()) {
            int n = Math.min(plan.prefillRows(), count - r);
            TrtNative.ExecutionContext c = hs.context(e.ordinal(), plan.profileFor(n), e);
            bindRowsIn(c, e, hs, r, n);
            c.setAddress(e.at(HIDDEN_OUT), hs.otherHidden(), hs.rowBytes * r);
            long[] pastShape = shape4(hs, past + r, kv);
            c.setInputShape(e.at(PAST_KEY), pastShape);
            c.setInputShape(e.at(PAST_VALUE), pastShape);
            c.setAddress(e.at(PAST_KEY), kv.keys[layer], 0);
            c.setAddress(e.at(PAST_VALUE), kv.values[layer], 0);
            c.setAddress(e.at(KEY), kv.keys[layer], kvRow * (past + r));
            c.setAddress(e.at(VALUE), kv.values[layer], kvRow * (past + r));
            enqueue(c, hs);
        }
        hs.swap();
    }

    @Override
    protected void runFillKv(int layer, TrtHiddenStates hs, int count, TrtKvCache kv, int past) throws SkipperException {
        kv.useOn(hs.stream);
        stagePositions(hs, past, count);
        EngineSet.Bound e = engines.kvFill(layer);
        long kvRow = kv.geometry().rowBytes();
        for (int r = 0; r < count; r += plan.prefillRows()) {
            int n = Math.min(plan.prefillRows(), count - r);
            TrtNative.ExecutionContext c = hs.context(e.ordinal(), plan.profileFor(n), e);
            bindRowsIn(c, e, hs, r, n);
            c.setAddress(e.at(KEY), kv.keys[layer], kvRow * (past + r));
            c.setAddress(e.at(VALUE), kv.values[layer], kvRow * (past + r));
            enqueue(c, hs);
        }
    }

    @Override
    protected void runHead(TrtHiddenStates hs, int row, int count, float[] logits) throws SkipperException {
        headRows(engines.head(), hs, row, count, logits, vocab);
    }

    @Override
    protected void runExitHead(int exitLayer, TrtHiddenStates hs, int count, float[] accept) throws SkipperException {
        EngineSet.Bound e = engines.exit(exitLayer);
        for (int r = 0; r < count; r += plan.prefillRows()) {
            int n = Math.min(plan.prefillRows(), count - r);
            TrtNative.ExecutionContext c = hs.context(e.ordinal(), plan.profileFor(n), e);
            c.setInputShape(e.at(HIDDEN), shape3(hs, n));
            c.setAddress(e.at(HIDDEN), hs.currentHidden(), hs.rowBytes * r);
            c.setAddress(e.at(HIDDEN_OUT), hs.otherHidden(), hs.rowBytes * r);
            c.setAddress(e.at(ACCEPT_PROB), hs.accept, 4L * r);
            enqueue(c, hs);
        }
        nat.copyToHost(hs.accept, 0, hs.hostLogits, 0, 4L * count, hs.stream);
        nat.synchronize(hs.stream);
        hs.hostLogitView.get(0, accept, 0, count);
        hs.swap();
    }

    @Override
    protected void runDraftHead(TrtHiddenStates hs, int count, float[] logits) throws SkipperException {
        headRows(engines.draftHead(), hs, 0, count, logits, draftVocabularySize());
    }

    @Override
    protected boolean loadedFeatureDrafter() {
        return engines.featureDrafter() != null;
    }

    /**
     * {@inheritDoc} On the embeddings' stream, in enqueues of at most a profile's and the logits
     * buffer's rows (causal attention makes chunks exact, as for layers): the drafter writes its new
     * K/V in place at row {@code past} of its one-layer cache and its predicted features into
     * {@code out}; the draft-vocabulary logits come back to the host.
     */
    @Override
    protected void runFeatureDraft(TrtHiddenStates features, int featureRow, TrtHiddenStates embedded, int count,
                                   TrtKvCache kv, int past, TrtHiddenStates out, float[] logits) throws SkipperException {
        if (features.stream != embedded.stream) {
            nat.synchronize(features.stream); // the feature rows were written on another sequence's stream
        }
        kv.useOn(embedded.stream);
        stagePositions(embedded, past, count);
        EngineSet.Bound e = engines.featureDrafter();
        long kvRow = kv.geometry().rowBytes();
        int width = draftVocabularySize();
        int most = Math.min(plan.prefillRows(), embedded.logitRows);
        for (int r = 0; r < count; r += most) {
            int n = Math.min(most, count - r);
            TrtNative.ExecutionContext c = embedded.context(e.ordinal(), plan.profileFor(n), e);
            c.setInputShape(e.at(FEATURE), shape3(embedded, n));
            c.setInputShape(e.at(EMBEDDED), embedded.shape3);
            c.setInputShape(e.at(POSITION_IDS), shape2(embedded, n));
            c.setAddress(e.at(FEATURE), features.currentHidden(), features.rowBytes * (featureRow + r));
            c.setAddress(e.at(EMBEDDED), embedded.currentHidden(), embedded.rowBytes * r);
            c.setAddress(e.at(POSITION_IDS), embedded.positions, 8L * r);
            long[] pastShape = shape4(embedded, past + r, kv);
            c.setInputShape(e.at(PAST_KEY), pastShape);
            c.setInputShape(e.at(PAST_VALUE), pastShape);
            c.setAddress(e.at(PAST_KEY), kv.keys[0], 0);
            c.setAddress(e.at(PAST_VALUE), kv.values[0], 0);
            c.setAddress(e.at(KEY), kv.keys[0], kvRow * (past + r));
            c.setAddress(e.at(VALUE), kv.values[0], kvRow * (past + r));
            c.setAddress(e.at(FEATURE_OUT), out.currentHidden(), out.rowBytes * r);
            c.setAddress(e.at(LOGITS), embedded.logits, 0);
            enqueue(c, embedded);
            long bytes = 4L * n * width;
            nat.copyToHost(embedded.logits, 0, embedded.hostLogits, 0, bytes, embedded.stream);
            nat.synchronize(embedded.stream); // also completes the writes into out and the cache
            embedded.hostLogitView.get(0, logits, r * width, n * width);
        }
    }

    /** A head engine over rows {@code [row, row + count)} in enqueues of at most logitRows rows. */
    private void headRows(EngineSet.Bound e, TrtHiddenStates hs, int row, int count, float[] logits, int width)
            throws SkipperException {
        for (int r = 0; r < count; r += hs.logitRows) {
            int n = Math.min(hs.logitRows, count - r);
            TrtNative.ExecutionContext c = hs.context(e.ordinal(), plan.profileFor(n), e);
            c.setInputShape(e.at(HIDDEN), shape3(hs, n));
            c.setAddress(e.at(HIDDEN), hs.currentHidden(), hs.rowBytes * (row + r));
            c.setAddress(e.at(LOGITS), hs.logits, 0);
            enqueue(c, hs);
            long bytes = 4L * n * width;
            nat.copyToHost(hs.logits, 0, hs.hostLogits, 0, bytes, hs.stream);
            nat.synchronize(hs.stream);
            hs.hostLogitView.get(0, logits, r * width, n * width);
        }
    }

    @Override
    protected void runCopyRows(TrtHiddenStates from, int fromRow, TrtHiddenStates to, int toRow, int count) {
        try {
            if (from.stream != to.stream) {
                nat.synchronize(from.stream);
            }
            nat.copyOnDevice(from.currentHidden(), from.rowBytes * fromRow, to.currentHidden(), to.rowBytes * toRow,
                    from.rowBytes * count, to.stream);
        } catch (SkipperException e) {
            throw new IllegalStateException("copying hidden rows failed: " + e.getMessage(), e);
        }
    }

    /** hidden [1, n, H] at row r of the current buffer and position_ids [1, n] at row r. */
    private void bindRowsIn(TrtNative.ExecutionContext c, EngineSet.Bound e, TrtHiddenStates hs, int r, int n)
            throws SkipperException {
        c.setInputShape(e.at(HIDDEN), shape3(hs, n));
        c.setInputShape(e.at(POSITION_IDS), shape2(hs, n));
        c.setAddress(e.at(HIDDEN), hs.currentHidden(), hs.rowBytes * r);
        c.setAddress(e.at(POSITION_IDS), hs.positions, 8L * r);
    }

    private void stagePositions(TrtHiddenStates hs, int past, int count) throws SkipperException {
        for (int i = 0; i < count; i++) {
            hs.hostLongView.put(i, past + i);
        }
        nat.copyToDevice(hs.hostLongs, 0, hs.positions, 0, 8L * count, hs.stream);
    }

    private static long[] shape2(TrtHiddenStates hs, int n) {
        hs.shape2[0] = 1;
        hs.shape2[1] = n;
        return hs.shape2;
    }

    private long[] shape3(TrtHiddenStates hs, int n) {
        hs.shape3[0] = 1;
        hs.shape3[1] = n;
        hs.shape3[2] = hiddenSize;
        return hs.shape3;
    }

    private static long[] shape4(TrtHiddenStates hs, int past, TrtKvCache kv) {
        hs.shape4[0] = 1;
        hs.shape4[1] = past;
        hs.shape4[2] = kv.geometry().kvHeads();
        hs.shape4[3] = kv.geometry().headDim();
        return hs.shape4;
    }

    private void enqueue(TrtNative.ExecutionContext c, TrtHiddenStates hs) throws SkipperException {
        long start = System.nanoTime();
        try {
            c.enqueue(hs.stream);
        } finally {
            enqueueNanos.add(System.nanoTime() - start);
        }
    }

    /** {@inheritDoc} Time spent queuing engines (and, on a synchronous seam, running them). */
    @Override
    public long nativeNanos() {
        return enqueueNanos.sum();
    }

    /** Closes the engines, then the device handles. */
    @Override
    protected void closeNative() {
        engines.close();
        nat.close();
    }

    @Override
    public String toString() {
        return "TrtModelRunner[" + manifest.directory() + " on " + describe(nat.device()) + ", weights "
                + DirectBuffers.mib(preflight.weightsBytes()) + "]";
    }

    /**
     * Where a bundle's engines are kept ({@link DeviceOptions#engineCacheFor}).
     *
     * @param manifest the bundle
     * @param configured the deployment's {@code gpu.engine_cache}, or null
     * @return the folder (created when the first engine is stored)
     */
    public static Path cacheDir(BundleManifest manifest, Path configured) {
        return new DeviceOptions(0, DevicePrecision.AUTO, configured).engineCacheFor(manifest.directory());
    }
}
