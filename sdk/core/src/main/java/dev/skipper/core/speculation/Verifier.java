package dev.skipper.core.speculation;

import dev.skipper.api.SamplingOptions;
import dev.skipper.api.SkipperException;
import dev.skipper.core.constrained.Constraint;
import dev.skipper.core.sampling.RecentTokens;
import dev.skipper.core.sampling.Sampler;
import dev.skipper.runtime.spi.HiddenStates;
import dev.skipper.runtime.spi.KvCache;
import dev.skipper.runtime.spi.ModelRunner;

/**
 * Checks a round's drafts with the full model in one batched pass and decides which to keep.
 *
 * <p>The batch is the pending token x followed by the drafts d1..dk (k+1 rows, positions P..P+k).
 * Layers below {@link Drafts#reuseLayers reused layers} already hold exact K/V for x..d(k-1) and their hidden
 * states sit in the batch; the verifier runs dk through those layers, drops every inexact row the
 * drafter left in the deeper layers, runs the deeper layers over all k+1 rows, and the head over
 * all of them: row i predicts the token after input i.
 *
 * <p>Acceptance (see NOTES section 5): greedy keeps the longest prefix of drafts equal to the
 * model's choice, then the model's own token; sampling accepts draft d with probability
 * min(1, p(d)/q(d)) and on rejection samples from the normalised max(0, p - q), or from p after the
 * last draft. Both use the request's sampling processing with the repetition window as plain
 * decoding would have it at that position, so the output equals plain decoding's (greedy) or has
 * its distribution (sampling).
 */
public final class Verifier implements AutoCloseable {
    private final ModelRunner runner;
    private final int numLayers;
    private final int vocab;
    private final float[] logits;   // [capacity+1][vocab] the batch's logits
    private final float[] p;        // [vocab] the target distribution of one row (sampling)
    private final float[] residual; // [vocab] max(0, p - q) on rejection
    private final int[] rows;       // [capacity+1] the batch's token ids
    private final int[] input = new int[1]; // [1] the last draft, run through the reused layers
    private final HiddenStates lastRow;     // [1][hidden] the last draft's row through the reused layers

    /** Decoder-layer executions of the last {@link #verify} (all rows counted once per layer call). */
    private long layerRuns;

    /**
     * @param runner the engine's runner
     * @param capacity most drafts per round
     * @throws SkipperException if its working row cannot be allocated
     */
    public Verifier(ModelRunner runner, int capacity) throws SkipperException {
        this.runner = runner;
        this.numLayers = runner.manifest().model().numLayers();
        this.vocab = runner.manifest().model().vocabSize();
        this.logits = new float[Math.multiplyExact(capacity + 1, vocab)];
        this.p = new float[vocab];
        this.residual = new float[vocab];
        this.rows = new int[capacity + 1];
        this.lastRow = runner.newHiddenStates(1);
    }

    /**
     * Verifies the batch and writes the tokens the round produces.
     *
     * @param pending x, the token at position {@code past}
     * @param past P: rows every layer keeps before the round (the cache may hold more in some layers)
     * @param batch the drafts (count &gt;= 1)
     * @param cache the sequence's cache; on return every layer holds exactly
     *     {@code past + 1 + accepted} rows (x and the accepted drafts)
     * @param sampling the request's sampling
     * @param sampler the session's sampler
     * @param recent the repetition window over the tokens up to and including x; on return it also
     *     holds the produced tokens
     * @param out receives the accepted drafts and then the model's next token: {@code accepted + 1}
     *     tokens
     * @return accepted drafts, 0 .. batch.count
     * @throws SkipperException on a backend failure (the cache is then truncated to {@code past})
     */
    public int verify(int pending, int past, Drafts batch, KvCache cache, SamplingOptions sampling,
                      Sampler sampler, RecentTokens recent, Constraint constraint, int[] out) throws SkipperException {
        int k = batch.count();
        int n = k + 1;
        int exact = batch.exactLayers();
        HiddenStates verifyRows = batch.verifyRows();
        rows[0] = pending;
        for (int i = 0; i < k; i++) {
            rows[i + 1] = batch.token(i);
        }
        layerRuns = 0;
        try {
            if (exact == 0) {
                for (int l = 0; l < numLayers; l++) {
                    cache.truncateLayer(l, past);
                }
                runner.embed(rows, 0, n, verifyRows);
            } else {
                // x .. d(k-1) ran layers [0, exact) while drafting; dk has not.
                for (int l = 0; l < exact; l++) {
                    cache.truncateLayer(l, past + k); // rows of inputs beyond dk's slot, if any
                }
                for (int l = exact; l < numLayers; l++) {
                    cache.truncateLayer(l, past); // inexact rows of a skip-set draft
                }
                input[0] = rows[k];
                runner.embed(input, 0, 1, lastRow);
                for (int l = 0; l < exact; l++) {
                    runner.layer(l, lastRow, 1, cache);
                    layerRuns++;
                }
                runner.copyRows(lastRow, 0, verifyRows, k, 1);
            }
            for (int l = exact; l < numLayers; l++) {
                runner.layer(l, verifyRows, n, cache);
                layerRuns += n;
            }
            runner.head(verifyRows, 0, n, logits);
        } catch (SkipperException | RuntimeException e) {
            cache.truncate(past);
            throw e;
        }

        int accepted = sampling.greedy() ? acceptGreedy(batch, sampling, sampler, recent, constraint, out)
                : acceptSampled(batch, sampling, sampler, recent, constraint, out);
        cache.truncate(past + 1 + accepted);
        return accepted;
    }

    @Override
    public void close() {
        lastRow.close();
    }

    /** @return decoder-layer executions of the last verification, counting every row */
    public long layerRuns() {
        return layerRuns;
    }

    private int acceptGreedy(Drafts batch, SamplingOptions sampling, Sampler sampler, RecentTokens recent,
                             Constraint constraint, int[] out) {
        int k = batch.count();
        int state = constraint == null ? 0 : constraint.state();
        for (int i = 0; i <= k; i++) {
            if (constraint != null) { // row i follows the pending token and drafts 0..i-1 (all accepted)
                constraint.mask(state, logits, i * vocab);
            }
            int target = sampler.next(logits, i * vocab, sampling, recent);
            out[i] = target;
            recent.add(target);
            if (i == k || target != batch.token(i)) {
                return i;
            }
            if (constraint != null) {
                state = constraint.lookahead(state, target);
            }
        }
        throw new AssertionError("unreachable");
    }

    private int acceptSampled(Drafts batch, SamplingOptions sampling, Sampler sampler, RecentTokens recent,
                              Constraint constraint, int[] out) {
        int k = batch.count();
        int state = constraint == null ? 0 : constraint.state();
        for (int i = 0; i <= k; i++) {
            if (constraint != null) { // the target distribution under the grammar: a disallowed draft has p = 0
                constraint.mask(state, logits, i * vocab);
            }
            sampler.probabilities(logits, i * vocab, sampling, recent, p, 0);
            if (i == k) { // every draft accepted: the bonus token comes from p
                out[i] = sampler.sample(p, 0);
                recent.add(out[i]);
                return k;
            }
            int d = batch.token(i);
            double qd = batch.q(i, d);
            double pd = p[d];
            if (qd > 0 && sampler.nextDouble() < Math.min(1.0, pd / qd)) {
                out[i] = d;
                recent.add(d);
                if (constraint != null) {
                    state = constraint.lookahead(state, d);
                }
                continue;
            }
            // Rejected: the residual max(0, p - q) renormalised (Leviathan et al. / Chen et al.).
            double mass = 0;
            for (int t = 0; t < vocab; t++) {
                double qt = batch.q(i, t);
                float r = (float) Math.max(0.0, p[t] - qt);
                residual[t] = r;
                mass += r;
            }
            out[i] = mass > 0 ? sampler.sample(residual, 0) : sampler.sample(p, 0);
            recent.add(out[i]);
            return i;
        }
        throw new AssertionError("unreachable");
    }
}
