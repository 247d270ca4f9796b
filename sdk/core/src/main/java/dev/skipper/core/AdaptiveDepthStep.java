package dev.skipper.core;

import dev.skipper.api.AdaptiveDepthStats;
import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.core.speculation.CalibrationPolicy;
import dev.skipper.runtime.spi.HiddenStates;
import dev.skipper.runtime.spi.ModelRunner;
import java.util.ArrayList;
import java.util.List;

/**
 * One session's lossy adaptive-depth decode step (TIDE-style exits, CALM-style KV propagation):
 * <pre>
 *   embed x; for each layer l:
 *     run layer l
 *     if l+1 is a calibrated exit whose gate fires (&gt;= threshold for the wanted precision):
 *       logits = head(adapter(h))                         the exit's prediction
 *       for every deeper layer j: K/V_j = kv_fill_j(h)    their cache rows, from the exited state
 *       done
 *   logits = head(h)                                      no exit fired: the full model
 * </pre>
 * The gate of each exit is whichever calibrated signal lets more tokens exit at the configured
 * precision on held-out text: its TIDE router's probability, or the exit's own top-1 probability
 * over the draft vocabulary (CALM; costs the draft head). Thresholds are the lowest whose
 * held-out precision reaches the configured one with 95 % confidence (the Wilson lower bound over
 * the firings the calibration counted, {@link CalibrationPolicy#routerThreshold(BundleManifest.ExitHeadSpec,
 * double, int)}); exits where neither reaches it are not used.
 * With FiRST routers in the bundle, a sequence also skips (for all its decode steps) the routed
 * layers whose predicted agreement when skipped reaches the same precision; their cache rows are
 * filled from their input like an exit's deeper layers. Not thread-safe: one per session.
 */
final class AdaptiveDepthStep implements AutoCloseable {
    // Costs in decoder layers (SmolLM2-135M int4, 2 cores): an exit graph (adapter + router) and one
    // more ONNX Runtime call; the draft head over N tokens is the LM head's 3.3 layers scaled by
    // N/V, plus a call; a K/V-only fill ~0.1 layer.
    private static final double EXIT_CHECK_COST = 0.15;
    private static final double HEAD_COST = 3.3;
    private static final double CALL_COST = 0.1;
    private static final double FILL_COST = 0.1;

    private final Sequence seq;
    private final ModelRunner runner;
    private final int numLayers;
    private final int[] exitLayer;     // [exits] calibrated exit layers in use, ascending
    private final double[] threshold;  // [exits] threshold of each exit's gate
    private final boolean[] byConfidence; // [exits] gate: the exit's own top-1 probability (else its router)
    private final float[] reduced;     // [draft vocab] draft-head logits for confidence gates
    private final HiddenStates scratch; // [1][hidden] the exit's adapted row (the layers keep theirs)
    private final float[] accept = new float[1]; // [1] router probability
    private final double precision;    // the quality knob (per-sequence skipping must predict at least this)
    private final dev.skipper.core.speculation.FirstRouter first; // FiRST routers, or null
    private final boolean[] skipLayer; // [layers] skipped for this sequence's decode steps (FiRST, lossy)

    private long tokens;
    private long exited;
    private long layerRuns;

    /**
     * @param seq the session's sequence
     * @param precision router precision required to exit, in [0.5, 1]
     * @throws SkipperException when the bundle has no exit heads or no K/V-only graphs
     */
    AdaptiveDepthStep(Sequence seq, double precision) throws SkipperException {
        this.seq = seq;
        this.runner = seq.runner();
        BundleManifest manifest = runner.manifest();
        this.numLayers = manifest.model().numLayers();
        check(manifest, runner);
        // Per exit, the calibrated gate that lets more tokens exit at this precision: the TIDE router
        // (no extra cost) or the exit's own confidence (CALM; costs the draft head).
        List<BundleManifest.ExitHeadSpec> usable = new ArrayList<>();
        List<Double> thresholds = new ArrayList<>();
        List<Boolean> confidence = new ArrayList<>();
        int heldOut = manifest.draftHeads().heldOutTokens(); // thresholds reach P with 95 % confidence
        for (BundleManifest.ExitHeadSpec e : manifest.draftHeads().exits()) {
            double r = CalibrationPolicy.routerThreshold(e, precision, heldOut);
            double c = CalibrationPolicy.confidenceThreshold(e, precision, heldOut);
            double rc = Double.isNaN(r) ? -1 : CalibrationPolicy.coverage(e.router(), r);
            double cc = Double.isNaN(c) ? -1 : CalibrationPolicy.coverage(e.confidence(), c);
            if (rc < 0 && cc < 0) {
                continue;
            }
            boolean byConf = cc > rc;
            // Only exits whose expected saving beats the cost of checking them on every token.
            double check = EXIT_CHECK_COST + (byConf ? CALL_COST + HEAD_COST
                    * manifest.draftHeads().vocabSize() / manifest.model().vocabSize() : 0);
            double saving = Math.max(rc, cc) * (numLayers - e.layer()) * (1 - FILL_COST);
            if (saving <= check) {
                continue;
            }
            usable.add(e);
            thresholds.add(byConf ? c : r);
            confidence.add(byConf);
        }
        this.exitLayer = new int[usable.size()];
        this.threshold = new double[usable.size()];
        this.byConfidence = new boolean[usable.size()];
        for (int i = 0; i < exitLayer.length; i++) {
            exitLayer[i] = usable.get(i).layer();
            threshold[i] = thresholds.get(i);
            byConfidence[i] = confidence.get(i);
        }
        this.reduced = new float[manifest.draftHeads().vocabSize()];
        this.precision = precision;
        this.first = manifest.firstRouters() == null ? null : dev.skipper.core.speculation.FirstRouter.load(manifest);
        this.skipLayer = new boolean[numLayers];
        this.scratch = runner.newHiddenStates(1);
    }

    /**
     * A step with explicit exits and thresholds (tests: 0 always exits, above 1 never).
     *
     * @param seq the session's sequence
     * @param exits calibrated exit layers, ascending
     * @param thresholds router threshold of each
     * @throws SkipperException when the bundle cannot run adaptive depth
     */
    AdaptiveDepthStep(Sequence seq, int[] exits, double[] thresholds) throws SkipperException {
        this.seq = seq;
        this.runner = seq.runner();
        this.numLayers = runner.manifest().model().numLayers();
        check(runner.manifest(), runner);
        if (exits.length != thresholds.length) {
            throw new IllegalArgumentException("one threshold per exit");
        }
        this.exitLayer = exits.clone();
        this.threshold = thresholds.clone();
        this.byConfidence = new boolean[exits.length];
        this.reduced = new float[runner.manifest().draftHeads().vocabSize()];
        this.precision = 1.0;
        this.first = null;
        this.skipLayer = new boolean[numLayers];
        this.scratch = runner.newHiddenStates(1);
    }

    /**
     * Checks that a bundle can run adaptive depth.
     *
     * @param manifest the bundle's manifest
     * @param runner its runner, or null to check the manifest only
     * @throws SkipperException naming what is missing
     */
    static void check(BundleManifest manifest, ModelRunner runner) throws SkipperException {
        if (manifest.draftHeads() == null || (runner != null && !runner.hasDraftHeads())) {
            throw new SkipperException("adaptive depth needs exit heads and routers: calibrate the bundle with "
                    + "./skipper calibrate " + manifest.directory());
        }
        if (manifest.graphs().kvFill().isEmpty() || (runner != null && !runner.hasKvFill())) {
            throw new SkipperException("adaptive depth needs the bundle's kv_fill graphs: re-export "
                    + manifest.directory() + " with skipper_export >= 0.3.0 (it has " + manifest.producer() + ")");
        }
    }

    /** @return the sequence this step runs */
    Sequence sequence() {
        return seq;
    }

    /**
     * The hook that pools the prompt's layer inputs for per-sequence skipping (FiRST), or null.
     *
     * @return the hook, or null
     */
    Sequence.LayerInputs promptObserver() {
        if (first == null) {
            return null;
        }
        first.reset();
        return first::observe;
    }

    /**
     * Starts a request (after its prefill): clears the stats and, with FiRST routers, skips for this
     * sequence the layers (up to the calibrated count) whose predicted agreement when skipped
     * reaches the precision.
     */
    void begin() {
        tokens = 0;
        exited = 0;
        layerRuns = 0;
        java.util.Arrays.fill(skipLayer, false);
        if (first != null && first.ready()) {
            double[] score = first.scores();
            for (int l : first.choose()) {
                skipLayer[l] = score[l] >= precision;
            }
            first.reset();
        }
    }

    /** @return the layers this sequence's decode steps skip (FiRST), ascending */
    List<Integer> skippedLayers() {
        List<Integer> out = new ArrayList<>();
        for (int l = 0; l < numLayers; l++) {
            if (skipLayer[l]) {
                out.add(l);
            }
        }
        return out;
    }

    /**
     * Runs the sequence's one pending token and leaves the next-token logits in
     * {@link Sequence#logits()}; every layer's cache gains its row (computed or filled).
     *
     * @throws SkipperException on a backend failure (the cache is put back)
     */
    void step() throws SkipperException {
        int pos = seq.cached();
        if (seq.length() != pos + 1) {
            throw new IllegalStateException("adaptive depth runs exactly one pending token, have "
                    + (seq.length() - pos));
        }
        HiddenStates hidden = seq.hidden();
        try {
            runner.embed(seq.tokenArray(), pos, 1, hidden);
            int next = 0;
            tokens++;
            for (int l = 0; l < numLayers; l++) {
                if (skipLayer[l]) { // skipped for this sequence: its cache row from its input, h passes through
                    runner.fillKv(l, hidden, 1, seq.cache());
                    continue;
                }
                runner.layer(l, hidden, 1, seq.cache());
                layerRuns++;
                if (next < exitLayer.length && exitLayer[next] == l + 1) {
                    runner.copyRows(hidden, 0, scratch, 0, 1);
                    runner.exitHead(l + 1, scratch, 1, accept);
                    double gate = accept[0];
                    if (byConfidence[next]) {
                        runner.draftHead(scratch, 1, reduced);
                        gate = dev.skipper.core.sampling.Sampler.topProbability(reduced, 0, reduced.length);
                    }
                    if (gate >= threshold[next]) {
                        runner.head(scratch, 0, 1, seq.logits());
                        for (int j = l + 1; j < numLayers; j++) {
                            runner.fillKv(j, hidden, 1, seq.cache());
                        }
                        exited++;
                        seq.markRun(pos + 1);
                        return;
                    }
                    next++;
                }
            }
            runner.head(hidden, 0, 1, seq.logits());
            seq.markRun(pos + 1);
        } catch (SkipperException | RuntimeException e) {
            seq.cache().truncate(pos);
            throw e;
        }
    }

    /** @return this request's figures */
    AdaptiveDepthStats stats() {
        return new AdaptiveDepthStats(tokens, exited, tokens == 0 ? 0 : (double) layerRuns / tokens);
    }

    @Override
    public void close() {
        scratch.close();
    }
}
