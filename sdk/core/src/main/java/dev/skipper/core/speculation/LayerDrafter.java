package dev.skipper.core.speculation;

import dev.skipper.api.SamplingOptions;
import dev.skipper.api.SkipperException;
import dev.skipper.api.spi.KvCache;
import dev.skipper.api.spi.ModelRunner;
import dev.skipper.core.sampling.RecentTokens;
import dev.skipper.core.sampling.Sampler;
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
 */
public final class LayerDrafter implements Drafter {
    private final ModelRunner runner;
    private final LayerPlan plan;
    private final int numLayers;
    private final int vocab;
    private volatile double threshold;

    /**
     * @param runner the engine's runner
     * @param plan which layers the draft runs
     * @param threshold stop drafting after a draft whose top-1 probability is below this, in [0, 1]
     */
    public LayerDrafter(ModelRunner runner, LayerPlan plan, double threshold) {
        this.runner = runner;
        this.plan = plan;
        this.numLayers = runner.manifest().model().numLayers();
        this.vocab = runner.manifest().model().vocabSize();
        if (plan.numLayers() != numLayers) {
            throw new IllegalArgumentException("plan for " + plan.numLayers() + " layers, model has " + numLayers);
        }
        setThreshold(threshold);
    }

    /** @return the layer plan */
    public LayerPlan plan() {
        return plan;
    }

    /** @param threshold the new confidence threshold, in [0, 1] */
    public void setThreshold(double threshold) {
        if (!(threshold >= 0 && threshold <= 1)) {
            throw new IllegalArgumentException("confidence threshold must be in [0, 1], got " + threshold);
        }
        this.threshold = threshold;
    }

    @Override
    public String name() {
        return plan.name();
    }

    @Override
    public void draft(int[] tokens, int length, int max, KvCache cache, SamplingOptions sampling, Sampler sampler,
                      RecentTokens recent, DraftBatch batch) throws SkipperException {
        int exact = plan.exactLayers();
        batch.deterministic = false;
        batch.exactLayers = exact;
        boolean sampled = !sampling.greedy();
        int recentStart = recent.length();
        int input = tokens[length - 1]; // the pending token first, then each draft
        try {
            for (int i = 0; i < max; i++) {
                batch.input[0] = input;
                runner.embed(batch.input, 0, 1, batch.draftHidden);
                for (int l = 0; l < numLayers; l++) {
                    if (plan.runs(l)) {
                        runner.layer(l, batch.draftHidden, 1, cache);
                        batch.layerRuns++;
                    }
                    if (l + 1 == exact) {
                        runner.copyRows(batch.draftHidden, 0, batch.verifyHidden, i, 1);
                    }
                }
                runner.head(batch.draftHidden, 0, 1, batch.draftLogits);
                int token;
                double confidence;
                if (sampled) {
                    int row = i * vocab;
                    sampler.probabilities(batch.draftLogits, 0, sampling, recent, batch.q, row);
                    token = sampler.sample(batch.q, row);
                    confidence = max(batch.q, row, vocab);
                } else {
                    token = sampler.next(batch.draftLogits, 0, sampling, recent);
                    confidence = topProbability(batch.draftLogits, token);
                }
                batch.drafts[i] = token;
                batch.count = i + 1;
                if (confidence < threshold || i + 1 == max) {
                    break;
                }
                recent.add(token); // the next draft's repetition penalty sees this one
                input = token;
            }
        } finally {
            recent.truncate(recentStart);
        }
    }

    private static double max(float[] values, int offset, int n) {
        float best = 0;
        for (int i = 0; i < n; i++) {
            best = Math.max(best, values[offset + i]);
        }
        return best;
    }

    /** softmax(logits)[token], computed stably in one pass for the max and one for the sum. */
    private double topProbability(float[] logits, int token) {
        float maxLogit = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            maxLogit = Math.max(maxLogit, logits[i]);
        }
        double sum = 0;
        for (int i = 0; i < vocab; i++) {
            sum += Math.exp(logits[i] - maxLogit);
        }
        return Math.exp(logits[token] - maxLogit) / sum;
    }

    @Override
    public String toString() {
        return "LayerDrafter[" + plan.name() + ", runs " + Arrays.toString(plan.runLayers()) + "]";
    }
}
