package dev.skipper.core;

import dev.skipper.api.DrafterStats;
import dev.skipper.api.SamplingOptions;
import dev.skipper.api.SkipperException;
import dev.skipper.api.SpeculationMode;
import dev.skipper.api.SpeculationStats;
import dev.skipper.core.config.SpeculationConfig;
import dev.skipper.core.sampling.Sampler;
import dev.skipper.core.speculation.DraftContext;
import dev.skipper.core.speculation.DraftController;
import dev.skipper.core.speculation.Drafter;
import dev.skipper.core.speculation.Drafts;
import dev.skipper.core.speculation.FirstRouter;
import dev.skipper.core.speculation.LayerPlan;
import dev.skipper.core.speculation.SpeculationPolicy;
import dev.skipper.core.speculation.Verifier;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * One session's speculative decoding: produces the next tokens of a {@link Sequence} with
 * draft-then-verify rounds, or a plain step when drafting does not pay. The round (see
 * {@code docs/architecture.md}):
 * <pre>
 *   PENDING x (cached = P)
 *     -> choose drafter + k      (DraftController; prompt lookup first when it matches)
 *     -> DRAFT d1..dk            (Drafter: may append rows to the cache)
 *     -> VERIFY [x, d1..dk]      (Verifier: one batched pass over the layers not run exactly)
 *     -> ACCEPT a drafts + 1 token, truncate every layer to P + 1 + a
 *     -> PENDING t(a+1) (cached = P + 1 + a)
 * </pre>
 * Which drafters a mode gets is {@link SpeculationPolicy}'s; this class only runs rounds. Not
 * thread-safe: one per session.
 */
final class SpeculativeDecoder implements DecodeStrategy {
    private final Sequence seq;
    private final Sampler sampler;
    private final int numLayers;
    private final SpeculationMode mode;
    private final SpeculationPolicy.Drafters set; // the drafters, in the order a round tries them
    private final List<Drafter> drafters;
    private final DraftController controller;
    private final DraftContext context;
    private final Drafts drafts;
    private final Verifier verifier;
    private final LongSupplier clock; // System::nanoTime; tests give a deterministic one

    // Per-request stats.
    private long rounds;
    private long drafted;
    private long accepted;
    private long plainSteps;
    private long layerRuns;
    private long draftNanos;
    private long verifyNanos;
    private final long[] roundsBy;   // [drafters] rounds each drafter drafted
    private final long[] draftedBy;  // [drafters]
    private final long[] acceptedBy; // [drafters]

    /**
     * @param seq the session's sequence
     * @param sampler the session's sampler
     * @param config the speculation settings (mode not {@code off})
     * @param withQ allocate draft distributions (needed when a request samples)
     * @throws SkipperException if the settings do not fit the model or buffers cannot be allocated
     */
    SpeculativeDecoder(Sequence seq, Sampler sampler, SpeculationConfig config, boolean withQ)
            throws SkipperException {
        this(seq, sampler, config, withQ, SpeculationPolicy.drafters(config, seq.runner(), seq.contextLength(),
                seq.chunk()));
    }

    /**
     * With drafters made elsewhere (tests that give a drafter a calibration of their own).
     *
     * @param set the drafters, owned (closed) by this decoder from now on
     */
    SpeculativeDecoder(Sequence seq, Sampler sampler, SpeculationConfig config, boolean withQ,
                       SpeculationPolicy.Drafters set) throws SkipperException {
        this(seq, sampler, config, withQ, set, System::nanoTime);
    }

    /**
     * With drafters made elsewhere and a clock of the test's own, so the controller's measured
     * rates (and the choices they drive) do not depend on how busy the machine is.
     *
     * @param clock nanoseconds, as {@link System#nanoTime()}
     */
    SpeculativeDecoder(Sequence seq, Sampler sampler, SpeculationConfig config, boolean withQ,
                       SpeculationPolicy.Drafters set, LongSupplier clock) throws SkipperException {
        this.seq = seq;
        this.clock = clock;
        this.sampler = sampler;
        this.numLayers = seq.runner().manifest().model().numLayers();
        this.mode = config.mode();
        this.set = set;
        this.drafters = set.drafters();
        this.roundsBy = new long[drafters.size()];
        this.draftedBy = new long[drafters.size()];
        this.acceptedBy = new long[drafters.size()];
        int maxDraft = Math.max(1, Math.min(config.maxDraftTokens(), seq.chunk() - 1));
        Drafts d = null;
        try {
            this.controller = new DraftController(maxDraft, set.priors(), config.adaptive());
            d = new Drafts(seq.runner(), maxDraft, withQ);
            this.verifier = new Verifier(seq.runner(), maxDraft);
        } catch (SkipperException | RuntimeException e) {
            if (d != null) {
                d.close();
            }
            set.close();
            throw e;
        }
        this.drafts = d;
        this.context = new DraftContext(seq.cache(), sampler, seq.recent());
    }

    @Override
    public Sequence.LayerInputs promptObserver() {
        FirstRouter first = set.router();
        if (first == null) {
            return null;
        }
        first.reset();
        return first::observe;
    }

    @Override
    public boolean usesFeatures() {
        return set.featureDrafter() != null;
    }

    /** @return the current layer drafter's skip set or exit plan, or null (for tests and logs) */
    LayerPlan layerPlan() {
        return set.layerDrafter() == null ? null : set.layerDrafter().plan();
    }

    /** @return the mode this decoder implements */
    SpeculationMode mode() {
        return mode;
    }

    /**
     * Starts a request (after its prefill): clears the per-request stats and, with FiRST routers,
     * sets this sequence's draft skip set from the pooled prompt.
     */
    @Override
    public void begin() {
        FirstRouter first = set.router();
        if (first != null && first.ready()) {
            set.layerDrafter().setPlan(LayerPlan.skipping(numLayers, first.choose()));
            first.reset();
        }
        rounds = 0;
        drafted = 0;
        accepted = 0;
        java.util.Arrays.fill(roundsBy, 0);
        java.util.Arrays.fill(draftedBy, 0);
        java.util.Arrays.fill(acceptedBy, 0);
        plainSteps = 0;
        layerRuns = 0;
        draftNanos = 0;
        verifyNanos = 0;
    }

    /** Forgets the session's switch-off decision (the session was reset). */
    @Override
    public void reset() {
        controller.reset();
    }

    /**
     * Produces the next tokens: the pending token is run (alone or as the head of a verification
     * batch) and the tokens that follow are appended to the sequence, the last one pending. On a
     * backend failure the sequence holds only the pending token's predecessors in its cache.
     */
    @Override
    public int step(SamplingOptions sampling, int budget, int[] out) throws SkipperException {
        try {
            return round(sampling, budget, out);
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw new SkipperException("speculative step failed: " + e.getMessage(), e);
        }
    }

    private int round(SamplingOptions sampling, int budget, int[] out) throws SkipperException {
        int past = seq.cached();
        int length = seq.length();
        if (past != length - 1) {
            throw new IllegalStateException("a step needs exactly one pending token");
        }
        int room = seq.contextLength() - past; // rows the cache can still take
        int maxProduce = Math.min(budget, room);
        if (!controller.wantsPlainStep() && maxProduce >= 2) {
            context.set(seq.tokenArray(), length, sampling).features(seq.features(), seq.featuresKnown());
            int passedOver = -1; // a prompt-lookup match passed over for a later drafter's round
            int passedK = 0;
            for (int d = 0; d < drafters.size(); d++) {
                int k = controller.draftLength(d, maxProduce);
                if (k == 0) {
                    continue;
                }
                Drafter drafter = drafters.get(d);
                drafter.prepare(context); // one-time work (a new prompt's catch-up) stays out of the draft cost
                context.costs(controller.plainStepNanos(), controller.verifyRowCost());
                long t0 = clock.getAsLong();
                drafts.clear();
                drafter.propose(context, k, drafts);
                long t1 = clock.getAsLong();
                if (!drafter.runsModel() && drafts.count() > 0 && !controller.freeDraftsPay(d)) {
                    if (passedOver < 0) { // the first such match: lookups are ordered by preference
                        passedOver = d; // worth less than the trained drafter's rounds: let it draft
                        passedK = k;
                    }
                    continue;
                }
                if (drafts.count() == 0) {
                    seq.cache().truncate(past); // a drafter that found nothing may still have run layers
                    if (!drafter.runsModel()) {
                        continue; // no prompt-lookup match: try the next drafter
                    }
                    draftNanos += t1 - t0;
                    layerRuns += drafts.layerRuns(); // layers it ran before finding nothing worth a draft
                    if (drafter.limitsItself()) {
                        controller.observeEmpty(d, t1 - t0); // no draft worth verifying
                    }
                    break;
                }
                return verifyRound(d, sampling, out, t1 - t0);
            }
            if (passedOver >= 0) {
                // The drafter the match was passed over for drafted nothing: the match beats a plain step.
                long t0 = clock.getAsLong();
                drafts.clear();
                drafters.get(passedOver).propose(context, passedK, drafts); // a lookup: cheap, the same match
                long t1 = clock.getAsLong();
                if (drafts.count() > 0) {
                    return verifyRound(passedOver, sampling, out, t1 - t0);
                }
            }
        }
        long t0 = clock.getAsLong();
        seq.run(null);
        int token = seq.sampleNext(sampler, sampling); // masked by a grammar constraint, if any
        seq.append(token);
        controller.observePlain(clock.getAsLong() - t0);
        plainSteps++;
        layerRuns += numLayers;
        out[0] = token;
        return 1;
    }

    /** Verifies the drafts drafter {@code d} left in {@link #drafts} and appends what it gives; returns tokens produced. */
    private int verifyRound(int d, SamplingOptions sampling, int[] out, long draftTime) throws SkipperException {
        int past = seq.cached();
        int pending = seq.tokenArray()[seq.length() - 1];
        int recentKeep = seq.recent().length();
        long t1 = clock.getAsLong();
        int a = verifier.verify(pending, past, drafts, seq.cache(), sampling, sampler, seq.recent(),
                seq.constraint(), out);
        long t2 = clock.getAsLong();
        seq.recent().truncate(recentKeep);
        seq.storeFeatures(past, drafts.verifyRows(), 0, a + 1); // the pending token's and accepted drafts' rows
        for (int i = 0; i <= a; i++) {
            seq.append(out[i]);
        }
        seq.setCached(past + 1 + a);
        controller.observeRound(d, drafts.count(), a, draftTime, t2 - t1);
        rounds++;
        drafted += drafts.count();
        accepted += a;
        roundsBy[d]++;
        draftedBy[d] += drafts.count();
        acceptedBy[d] += a;
        layerRuns += drafts.layerRuns() + verifier.layerRuns();
        draftNanos += draftTime;
        verifyNanos += t2 - t1;
        return a + 1;
    }

    @Override
    public SpeculationStats speculationStats(int generated) {
        List<DrafterStats> by = new ArrayList<>(drafters.size());
        for (int d = 0; d < drafters.size(); d++) {
            by.add(new DrafterStats(drafters.get(d).name(), roundsBy[d], draftedBy[d], acceptedBy[d]));
        }
        return new SpeculationStats(rounds, drafted, accepted, plainSteps,
                generated == 0 ? 0 : (double) layerRuns / Math.max(1, generated - 1), draftNanos / 1e6,
                verifyNanos / 1e6, controller.isOff(), by);
    }

    @Override
    public int maxTokensPerStep() {
        return drafts.capacity() + 1;
    }

    @Override
    public void close() {
        try {
            drafts.close();
            verifier.close();
        } finally {
            set.close();
        }
    }
}
