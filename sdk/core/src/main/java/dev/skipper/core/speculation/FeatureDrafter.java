package dev.skipper.core.speculation;

import dev.skipper.api.SamplingOptions;
import dev.skipper.api.SkipperException;
import dev.skipper.core.sampling.RecentTokens;
import dev.skipper.core.sampling.Sampler;
import dev.skipper.runtime.spi.HiddenStates;
import dev.skipper.runtime.spi.KvCache;
import dev.skipper.runtime.spi.ModelRunner;

/**
 * Drafts with the bundle's trained feature drafter (EAGLE-style, {@code ./skipper calibrate}): one
 * decoder layer with its own KV cache that reads the target's last-layer output at the previous
 * position and the current token's embedding, and predicts the next position's feature and
 * draft-vocabulary logits. Drafting runs no target layer.
 *
 * <p>Features: the sequence keeps the target's last-layer row of every cached position (prefill
 * chunks, plain steps and every verification's accepted rows: {@link DraftContext#features()}), so a
 * drafter made late in a session or shared prefixes of earlier requests cost nothing. A round first
 * <em>catches up</em>: drafter positions up to the one before the pending token run over true
 * features in one batch, and its last row already gives the first draft; each further draft reads
 * the drafter's own predicted feature and the embedding of its own previous draft. The rows of
 * predicted features are dropped from the drafter's cache after the round (rollback by length), so
 * it only ever keeps positions computed from true features; positions whose tokens changed since
 * (a new prompt, another turn) are found by comparing the tokens it read and run again.
 *
 * <p>Drafts are chosen from logits scattered into a full-vocabulary row ({@code -inf} outside the
 * draft vocabulary), with the request's own sampling, so q is exact for speculative sampling.
 *
 * <p>Where drafting stops: with calibration's acceptance by confidence (the adaptive default), a
 * draft is kept only while the chance that it and every draft before it are accepted pays for the
 * row it adds and the drafter step that computes it ({@link DraftChain}: EAGLE-2's
 * confidence-valued drafting, reduced to a chain; the verified row's cost and a plain step are the
 * controller's measurements, a drafter step is timed here). A round whose first draft
 * does not pay proposes nothing: a plain step follows. Without it (fixed settings), drafting stops
 * after a draft whose own top-1 probability is below the configured threshold. Both decisions read
 * only the drafter's own probabilities, so speculative sampling stays exact.
 *
 * <p>Not thread-safe: one per session. Allocates nothing per round.
 */
public final class FeatureDrafter implements Drafter {
    private final ModelRunner runner;
    private final int vocab;
    private final int[] draftVocab;      // [N] token of each logits column
    private final int maxSeq;
    private final int chunk;             // rows of one catch-up pass
    private final KvCache cache;         // the drafter's own one-layer cache: positions 0 .. caughtUp-1 from true features
    private final int[] seen;            // [maxSeq+1] the tokens its cached positions read: position p reads tokens 0..p+1
    private final HiddenStates embedded; // [chunk][hidden] embeddings of the rows being drafted
    private final HiddenStates outA;     // [chunk][hidden] predicted features (alternating with outB)
    private final HiddenStates outB;     // [chunk][hidden]
    private final float[] reduced;       // [chunk][N] draft-vocabulary logits
    private final float[] full;          // [vocab] one row scattered into the full vocabulary
    private final int[] input = new int[1];
    private final AcceptanceByConfidence calibration; // null: stop on the fixed threshold
    private final double bestAcceptance;               // the calibration's acceptance at confidence 1
    private final DraftChain chain = new DraftChain();
    private final double priorStepCost;  // calibration's drafter step, fraction of a plain step (until timed)
    private double stepNanos;            // one single-row drafter step (embed + drafter): fastest of the first
    private int steps;                   // STEP_WARMUP timed, then an average (the first run cold code)
    private volatile double threshold;
    private int caughtUp; // drafter cache positions, all from true features

    /**
     * @param runner the engine's runner ({@link ModelRunner#hasFeatureDrafter()})
     * @param maxSeq the sequence's capacity
     * @param chunk most rows of one catch-up pass, at least 1
     * @param threshold stop drafting after a draft whose top-1 probability is below this, in [0, 1]
     *     (without a calibration)
     * @param calibration held-out acceptance by confidence: keep drafts while they pay (then the
     *     threshold is not used), or null
     * @param stepCost calibration's cost of one drafter step as a fraction of a plain step (used
     *     until a step is timed here); NaN when unknown
     * @throws SkipperException if its buffers cannot be allocated
     */
    public FeatureDrafter(ModelRunner runner, int maxSeq, int chunk, double threshold,
                          AcceptanceByConfidence calibration, double stepCost) throws SkipperException {
        if (!runner.hasFeatureDrafter()) {
            throw new IllegalArgumentException("the bundle has no feature drafter (./skipper calibrate trains one)");
        }
        if (chunk < 1 || maxSeq < 1) {
            throw new IllegalArgumentException("feature drafter needs chunk >= 1 and maxSeq >= 1, got " + chunk + ", "
                    + maxSeq);
        }
        this.runner = runner;
        this.vocab = runner.manifest().model().vocabSize();
        this.draftVocab = runner.draftVocabulary();
        this.maxSeq = maxSeq;
        this.chunk = Math.min(chunk, maxSeq);
        this.calibration = calibration;
        this.bestAcceptance = calibration == null ? 1 : calibration.acceptance(1.0);
        this.priorStepCost = stepCost > 0 ? stepCost : DEFAULT_STEP_COST;
        setThreshold(threshold);
        this.reduced = new float[Math.multiplyExact(this.chunk, draftVocab.length)];
        this.full = new float[vocab];
        this.seen = new int[maxSeq + 1];
        KvCache c = null;
        HiddenStates e = null;
        HiddenStates a = null;
        HiddenStates b = null;
        try {
            c = runner.newFeatureDrafterCache(maxSeq);
            e = runner.newHiddenStates(this.chunk);
            a = runner.newHiddenStates(this.chunk);
            b = runner.newHiddenStates(this.chunk);
        } catch (SkipperException | RuntimeException ex) {
            for (AutoCloseable x : new AutoCloseable[] {c, e, a, b}) {
                closeQuietly(x);
            }
            throw ex;
        }
        this.cache = c;
        this.embedded = e;
        this.outA = a;
        this.outB = b;
    }

    /** @param threshold the new confidence threshold, in [0, 1] */
    public void setThreshold(double threshold) {
        this.threshold = CalibrationPolicy.checkThreshold(threshold);
    }

    @Override
    public String name() {
        return "feature";
    }

    @Override
    public boolean limitsItself() {
        return calibration != null;
    }

    /** Forgets everything (a new sequence). */
    public void reset() {
        caughtUp = 0;
        cache.truncate(0);
    }

    /** Timed steps whose fastest stands for a step before averaging starts. */
    private static final int STEP_WARMUP = 4;

    /** A drafter step's cost before calibration or timing says otherwise: one small layer + head, ~7 % of a step. */
    static final double DEFAULT_STEP_COST = 0.07;

    /** Spans longer than this are caught up in {@link #prepare} (a new prompt), not in the timed round. */
    private static final int PREPARE_ROWS = 8;

    /** {@inheritDoc} Catches up over a new prompt (all but the last row, which starts the round). */
    @Override
    public void prepare(DraftContext context) throws SkipperException {
        int last = context.length() - 1;
        HiddenStates store = context.features();
        if (last < 2 || store == null || context.featuresKnown() < last || last >= maxSeq) {
            return;
        }
        int[] tokens = context.tokens();
        revalidate(tokens);
        if (last - 1 - caughtUp <= PREPARE_ROWS) {
            return;
        }
        cache.truncate(caughtUp);
        seen[0] = tokens[0];
        while (caughtUp < last - 1) {
            int rows = Math.min(chunk, last - 1 - caughtUp);
            runner.embed(tokens, caughtUp + 1, rows, embedded);
            runner.featureDraft(store, caughtUp, embedded, rows, cache, outA, reduced);
            System.arraycopy(tokens, caughtUp + 1, seen, caughtUp + 1, rows);
            caughtUp += rows;
        }
    }

    /** Positions whose tokens changed since they ran (another prompt, another turn) run again. */
    private void revalidate(int[] tokens) {
        int same = java.util.Arrays.mismatch(seen, 0, caughtUp + 1, tokens, 0, caughtUp + 1);
        if (same >= 0) {
            caughtUp = Math.max(0, Math.min(caughtUp, same - 1));
        }
    }

    @Override
    public void propose(DraftContext context, int max, Drafts out) throws SkipperException {
        int length = context.length();
        int last = length - 1; // the pending token's position: features are known before it
        HiddenStates store = context.features();
        if (last < 1 || store == null || context.featuresKnown() < last || last >= maxSeq) {
            return;
        }
        out.reuseLayers(0);
        int[] tokens = context.tokens();
        revalidate(tokens);
        SamplingOptions sampling = context.sampling();
        Sampler sampler = context.sampler();
        RecentTokens recent = context.recent();
        int recentStart = recent.length();
        boolean sampled = !sampling.greedy();
        float[] q = out.q();
        int n = draftVocab.length;
        try {
            // Catch up over true features: drafter position p reads f_p and e_{p+1}.
            if (caughtUp >= last) {
                caughtUp = last - 1; // redo the last row: its output starts the round
            }
            cache.truncate(caughtUp);
            int rows = 0;
            seen[0] = tokens[0];
            while (caughtUp < last) {
                rows = Math.min(chunk, last - caughtUp);
                runner.embed(tokens, caughtUp + 1, rows, embedded);
                runner.featureDraft(store, caughtUp, embedded, rows, cache, outA, reduced);
                System.arraycopy(tokens, caughtUp + 1, seen, caughtUp + 1, rows);
                caughtUp += rows;
            }
            HiddenStates current = outA;
            HiddenStates other = outB;
            int rowOf = rows - 1;
            chain.start();
            double verifyRow = context.verifyRowCost();
            double plain = context.plainStepNanos();
            double step = steps > 0 && plain > 0 ? stepNanos / plain : priorStepCost;
            for (int i = 0; i < max; i++) {
                java.util.Arrays.fill(full, 0, vocab, Float.NEGATIVE_INFINITY);
                int base = rowOf * n;
                for (int j = 0; j < n; j++) {
                    full[draftVocab[j]] = reduced[base + j];
                }
                int token;
                if (sampled) {
                    int row = out.qOffset(i);
                    sampler.probabilities(full, 0, sampling, recent, q, row);
                    token = sampler.sample(q, row);
                } else {
                    token = sampler.next(full, 0, sampling, recent);
                }
                double confidence = Sampler.topProbability(reduced, base, n);
                boolean stop;
                if (calibration != null) {
                    // The first draft comes with the catch-up (spent anyway); later ones cost a step.
                    if (!chain.keep(calibration.acceptance(confidence), i == 0 ? verifyRow : verifyRow + step)) {
                        break; // its row would lower the round's rate: not verified
                    }
                    stop = false;
                } else {
                    stop = confidence < threshold;
                }
                out.add(token);
                if (stop || i + 1 == max || caughtUp + i + 1 >= maxSeq) {
                    break;
                }
                if (calibration != null && !chain.wouldKeep(bestAcceptance, verifyRow + step)) {
                    break; // even a certain next draft would not pay for its step and row: do not compute it
                }
                recent.add(token);
                input[0] = token;
                long t0 = System.nanoTime();
                runner.embed(input, 0, 1, embedded);
                runner.featureDraft(current, rowOf, embedded, 1, cache, other, reduced);
                long took = System.nanoTime() - t0;
                stepNanos = steps == 0 ? took : steps < STEP_WARMUP ? Math.min(stepNanos, took)
                        : stepNanos + 0.1 * (took - stepNanos);
                steps++;
                HiddenStates t = current;
                current = other;
                other = t;
                rowOf = 0;
            }
        } finally {
            recent.truncate(recentStart);
            cache.truncate(Math.min(caughtUp, cache.length(0))); // predicted-feature rows go
        }
    }

    @Override
    public void close() {
        for (AutoCloseable x : new AutoCloseable[] {cache, embedded, outA, outB}) {
            closeQuietly(x);
        }
    }

    private static void closeQuietly(AutoCloseable x) {
        if (x == null) {
            return;
        }
        try {
            x.close();
        } catch (Exception e) {
            // buffers: nothing to report at close
        }
    }
}
