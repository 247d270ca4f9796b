package dev.skipper.core.speculation;

import dev.skipper.api.SamplingOptions;
import dev.skipper.api.SkipperException;
import dev.skipper.core.sampling.RecentTokens;
import dev.skipper.core.sampling.Sampler;
import dev.skipper.runtime.spi.HiddenStates;
import dev.skipper.runtime.spi.KvCache;
import dev.skipper.runtime.spi.ModelRunner;
import java.util.Arrays;

/**
 * Drafts with part of the model's depth: early exit (layers {@code 0 .. E-1}, then the final norm
 * and LM head, LayerSkip style) or a skip set (every layer except some, Draft &amp; Verify / SWIFT
 * style). One class for both: a {@link LayerPlan} says which layers run.
 *
 * <p>Per draft: embed the input token, run the plan's layers one row at a time (their K/V go to the
 * cache as usual), copy the hidden state after the last exact layer into the verification batch,
 * head, then choose the draft token with the request's own sampling (q, when sampling). Drafting
 * stops early when the draft's top-1 probability falls below the confidence threshold.
 *
 * <p>With a calibrated exit head (early exit only): after the exit layer the row goes through the
 * exit adapter and the draft-vocabulary head; the drafted token's logits are scattered into a
 * full-vocabulary row ({@code -inf} elsewhere) so sampling processing and q are the same as for
 * any drafter; the stop signal is the exit's router probability (TIDE style) or its own top-1
 * probability, whichever ranked drafts better on held-out text (calibration's AUCs).
 */
public final class LayerDrafter implements Drafter {
    private final ModelRunner runner;
    private volatile LayerPlan plan;
    private final int numLayers;
    private final int vocab;
    private volatile double threshold;
    private final int exitHead;       // exit layer with a calibrated head, or -1
    private final int[] draftVocab;   // [N] token of each draft-head column (exit head only)
    private final float[] reduced;    // [N] draft-head logits (exit head only)
    private final float[] accept = new float[1]; // [1] router probability of the current draft
    private final HiddenStates work;  // [1][hidden] the row being drafted
    private final float[] logits;     // [vocab] the draft's logits (exit head: scattered from reduced)
    private final int[] input = new int[1]; // [1] the token embedded next (no array per call)
    private final boolean stopOnConfidence; // exit head: stop on its own top-1 probability (else its router)

    /**
     * @param runner the engine's runner
     * @param plan which layers the draft runs
     * @param threshold stop drafting after a draft whose top-1 probability is below this, in [0, 1]
     * @throws SkipperException if its working row cannot be allocated
     */
    public LayerDrafter(ModelRunner runner, LayerPlan plan, double threshold) throws SkipperException {
        this(runner, plan, threshold, false);
    }

    /**
     * @param runner the engine's runner
     * @param plan which layers the draft runs
     * @param threshold stop drafting after a draft whose confidence is below this, in [0, 1]
     * @param exitHead draft through the bundle's calibrated exit head at the plan's exit layer
     *     (requires an early-exit plan and {@link ModelRunner#hasDraftHeads()})
     * @throws SkipperException if its working row cannot be allocated
     */
    public LayerDrafter(ModelRunner runner, LayerPlan plan, double threshold, boolean exitHead)
            throws SkipperException {
        this.runner = runner;
        this.plan = plan;
        this.numLayers = runner.manifest().model().numLayers();
        this.vocab = runner.manifest().model().vocabSize();
        if (plan.numLayers() != numLayers) {
            throw new IllegalArgumentException("plan for " + plan.numLayers() + " layers, model has " + numLayers);
        }
        if (exitHead) {
            int exit = plan.exactLayers();
            if (plan.layersRun() != exit) {
                throw new IllegalArgumentException("an exit head needs an early-exit plan, got " + plan.name());
            }
            if (!runner.hasDraftHeads() || runner.manifest().draftHeads().exit(exit).isEmpty()) {
                throw new IllegalArgumentException("the bundle has no calibrated exit head after " + exit
                        + " layers (./skipper calibrate)");
            }
            this.exitHead = exit;
            this.draftVocab = runner.draftVocabulary();
            this.reduced = new float[draftVocab.length];
            this.stopOnConfidence = CalibrationPolicy.confidenceRanksBetter(runner.manifest().draftHeads().exit(exit).orElseThrow());
        } else {
            this.exitHead = -1;
            this.draftVocab = null;
            this.reduced = null;
            this.stopOnConfidence = false;
        }
        setThreshold(threshold);
        this.logits = new float[vocab];
        this.work = runner.newHiddenStates(1);
    }

    /** @return the layer plan */
    public LayerPlan plan() {
        return plan;
    }

    /**
     * Replaces the plan between rounds (a per-sequence skip set chosen after prefill).
     *
     * @param next a plan for the same model
     * @throws IllegalArgumentException for another layer count, or with an exit head
     */
    public void setPlan(LayerPlan next) {
        if (next.numLayers() != numLayers) {
            throw new IllegalArgumentException("plan for " + next.numLayers() + " layers, model has " + numLayers);
        }
        if (exitHead >= 0) {
            throw new IllegalArgumentException("an exit-head drafter keeps its exit layer");
        }
        this.plan = next;
    }

    /** @param threshold the new confidence threshold, in [0, 1] */
    public void setThreshold(double threshold) {
        this.threshold = CalibrationPolicy.checkThreshold(threshold);
    }

    @Override
    public String name() {
        return exitHead >= 0 ? plan.name() + "+head" : plan.name();
    }

    @Override
    public void propose(DraftContext context, int max, Drafts out) throws SkipperException {
        LayerPlan plan = this.plan; // one plan for the whole call
        int exact = plan.exactLayers();
        out.reuseLayers(exact);
        SamplingOptions sampling = context.sampling();
        Sampler sampler = context.sampler();
        RecentTokens recent = context.recent();
        KvCache cache = context.cache();
        float[] q = out.q();
        boolean sampled = !sampling.greedy();
        int recentStart = recent.length();
        int token = context.pending(); // the pending token first, then each draft
        try {
            for (int i = 0; i < max; i++) {
                input[0] = token;
                runner.embed(input, 0, 1, work);
                for (int l = 0; l < numLayers; l++) {
                    if (plan.runs(l)) {
                        runner.layer(l, work, 1, cache);
                        out.countLayerRuns(1);
                    }
                    if (l + 1 == exact) {
                        runner.copyRows(work, 0, out.verifyRows(), i, 1);
                    }
                }
                double routed = Double.NaN;
                if (exitHead >= 0) {
                    routed = exitLogits();
                } else {
                    runner.head(work, 0, 1, logits);
                }
                double confidence;
                if (sampled) {
                    int row = out.qOffset(i);
                    sampler.probabilities(logits, 0, sampling, recent, q, row);
                    token = sampler.sample(q, row);
                    confidence = exitHead >= 0 ? routed : max(q, row, vocab);
                } else {
                    token = sampler.next(logits, 0, sampling, recent);
                    // With an exit head its calibrated stop signal (router or own confidence) decides.
                    confidence = exitHead >= 0 ? routed : Sampler.probabilityOf(logits, 0, vocab, token);
                }
                out.add(token);
                if (confidence < threshold || i + 1 == max) {
                    break;
                }
                recent.add(token); // the next draft's repetition penalty sees this one
            }
        } finally {
            recent.truncate(recentStart);
        }
    }

    @Override
    public void close() {
        work.close();
    }

    /**
     * Exit adapter + router, then the draft head; scatters its logits into the full-vocabulary
     * row {@link #logits} ({@code -inf} outside the draft vocabulary).
     *
     * @return the calibrated stop signal: the router's probability that this draft is the full
     *     model's top-1, or the draft's own top-1 probability when calibration found it ranks better
     */
    private double exitLogits() throws SkipperException {
        runner.exitHead(exitHead, work, 1, accept);
        runner.draftHead(work, 1, reduced);
        float[] full = logits;
        java.util.Arrays.fill(full, 0, vocab, Float.NEGATIVE_INFINITY);
        for (int j = 0; j < reduced.length; j++) {
            full[draftVocab[j]] = reduced[j];
        }
        if (stopOnConfidence) {
            return Sampler.topProbability(reduced, 0, reduced.length);
        }
        return accept[0];
    }

    private static double max(float[] values, int offset, int n) {
        float best = 0;
        for (int i = 0; i < n; i++) {
            best = Math.max(best, values[offset + i]);
        }
        return best;
    }

    @Override
    public String toString() {
        return "LayerDrafter[" + name() + ", runs " + Arrays.toString(plan.runLayers()) + "]";
    }
}
