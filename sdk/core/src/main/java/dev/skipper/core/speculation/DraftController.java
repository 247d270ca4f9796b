package dev.skipper.core.speculation;

/**
 * Decides, round by round, whether to draft, with which drafter and how many tokens, from what it
 * measures in this session: acceptance rate and draft cost per drafter, verification cost per
 * batch size, and the time of a plain decoding step.
 *
 * <p>Expected tokens of a round of k drafts at per-draft acceptance a: {@code (1 - a^(k+1)) / (1 - a)};
 * its time: {@code k * draft + verify(k+1)} with {@code verify(n) = plain * (1 + slope * (n-1))}. The
 * controller picks the k with the best expected rate, drafts only when that beats plain decoding,
 * and re-probes a losing drafter now and then. When the measured rate of all speculative rounds
 * stays below {@link #SWITCH_OFF_RATIO} of plain decoding's, speculation is switched off for the
 * session.
 *
 * <p>A <em>self-limiting</em> drafter (the trained feature drafter: {@link Drafter#limitsItself()})
 * decides each round's length itself, draft by draft, from its calibrated acceptance and the
 * costs this controller measures ({@link #plainStepNanos}, {@link #verifyRowCost}). The controller gives it
 * the whole budget and judges it by the measured rate of its rounds (tokens per second, empty rounds
 * included) against plain decoding's, with the same probing while it loses.
 *
 * <p>Not thread-safe: one per session.
 */
public final class DraftController {
    /** Speculation is switched off when its measured rate falls below this fraction of plain decoding's. */
    public static final double SWITCH_OFF_RATIO = 0.97;
    /** Plain steps measured at the start of a session before any drafting. */
    static final int WARMUP_PLAIN_STEPS = 3;
    /** Rounds measured before the switch-off rule applies. */
    static final int MIN_ROUNDS_BEFORE_OFF = 12;
    /**
     * A drafter that looks unprofitable is still tried after this many decisions; each probe that
     * loses doubles the wait (up to {@link #MAX_REPROBE}), one that wins resets it.
     */
    static final int REPROBE_EVERY = 24;
    /** Longest wait between probes of a losing drafter. */
    static final int MAX_REPROBE = 4096;
    /** A plain step is re-measured once every this many rounds (context growth changes it). */
    static final int REMEASURE_PLAIN_EVERY = 48;
    private static final double EMA = 0.15;
    /** Rounds whose fastest draft cost stands for the drafter's cost before averaging starts. */
    static final int COST_WARMUP_ROUNDS = 4;
    private static final double SLOPE_EMA = 0.05;
    private static final double MIN_SLOPE = 0.05;
    private static final double MAX_SLOPE = 0.6;

    private final int maxDraft;
    private final boolean adaptive; // false: always draft maxDraft, never plain by choice, never off
    private final DrafterStats[] drafters;

    private double plainNanos;      // EMA of a plain decoding step
    private long plainSteps;
    private double slope = 0.15;    // verify(n) / plain - 1, per extra row (prior: a batched pass costs ~15 % per row)
    private long rounds;
    private long specTokens;        // tokens produced by speculative rounds
    private long specNanos;         // their time (drafting + verification)
    private long plainTokensTotal;
    private long plainNanosTotal;
    private boolean off;

    /**
     * What is known of a drafter before it runs.
     *
     * @param acceptance per-draft acceptance guess, in [0, 1]
     * @param limitsItself whether the drafter chooses each round's length itself
     */
    public record Prior(double acceptance, boolean limitsItself) {
    }

    /**
     * @param maxDraft most drafts per round, &gt;= 1
     * @param priors one per drafter the policy may choose among (indices 0 ..)
     * @param adaptive adapt online (else: fixed draft length, no plain steps by choice, never off)
     */
    public DraftController(int maxDraft, Prior[] priors, boolean adaptive) {
        this.adaptive = adaptive;
        if (maxDraft < 1) {
            throw new IllegalArgumentException("max draft tokens must be >= 1, got " + maxDraft);
        }
        this.maxDraft = maxDraft;
        this.drafters = new DrafterStats[priors.length];
        for (int i = 0; i < priors.length; i++) {
            drafters[i] = new DrafterStats(priors[i]);
        }
    }

    /** @return whether the session switched speculation off */
    public boolean isOff() {
        return off;
    }

    /**
     * Whether the next step should be a plain one regardless of drafts (warm-up, re-measurement,
     * switched off).
     *
     * @return true for a plain step
     */
    public boolean wantsPlainStep() {
        if (!adaptive) {
            return false;
        }
        return off || plainSteps < WARMUP_PLAIN_STEPS
                || (rounds > 0 && rounds % REMEASURE_PLAIN_EVERY == 0 && lastWasRound);
    }

    private boolean lastWasRound;

    /**
     * How many tokens drafter {@code d} should draft now, or 0 to take a plain step instead.
     *
     * @param d drafter index
     * @param budget most tokens the round may produce (drafts + 1)
     * @return drafts, 0 .. min(maxDraft, budget - 1)
     */
    public int draftLength(int d, int budget) {
        int cap = Math.min(maxDraft, budget - 1);
        if (cap < 1 || off) {
            return 0;
        }
        if (!adaptive) {
            return cap;
        }
        DrafterStats s = drafters[d];
        s.decisions++;
        if (s.limitsItself) {
            // Judged by its measured rounds; the first ones (cold code) are not held against it.
            boolean profitable = !s.rateMeasured() || plainNanos <= 0 || s.rate() * plainNanos > 1.0;
            if (!profitable) {
                if (s.decisions < s.nextProbe) {
                    return 0;
                }
                s.probing = true;
            }
            return cap;
        }
        double a = Math.min(s.acceptance, 0.98);
        double bestRate = 0;
        int bestK = 1;
        for (int k = 1; k <= cap; k++) {
            double tokens = (1 - Math.pow(a, k + 1)) / (1 - a);
            double time = k * s.draftNanosPerToken + verifyNanos(k + 1);
            double rate = tokens / time;
            if (rate > bestRate) {
                bestRate = rate;
                bestK = k;
            }
        }
        boolean profitable = bestRate * plainNanos > 1.0;
        if (!profitable) {
            if (s.decisions < s.nextProbe) {
                return 0;
            }
            s.probing = true;
        }
        return bestK;
    }

    /**
     * Whether a match a free drafter (prompt lookup) just proposed should be verified, or the best
     * self-limiting drafter after it should draft this round instead: {@code auto} picks, per round,
     * by the measured rate of each one's rounds (tokens per second of drafting and verification;
     * a lookup's acceptance is bimodal, a copy goes on or breaks off, so a per-draft model would
     * undervalue it). A free drafter passed over {@link #REPROBE_EVERY} times in a row is verified
     * anyway, so its rate stays measured.
     *
     * @param d the free drafter's index
     * @return true to verify its drafts, false to let the later drafter run this round
     */
    public boolean freeDraftsPay(int d) {
        DrafterStats s = drafters[d];
        if (!adaptive || plainNanos <= 0 || !s.rateMeasured()) {
            return true;
        }
        double best = 0;
        for (int j = d + 1; j < drafters.length; j++) {
            DrafterStats t = drafters[j];
            if (t.limitsItself && t.rateMeasured() && t.rate() * plainNanos > 1.0) { // drafting, not backed off
                best = Math.max(best, t.rate());
            }
        }
        if (s.rate() >= best || ++s.passedOver >= REPROBE_EVERY) {
            s.passedOver = 0;
            return true;
        }
        return false;
    }

    /**
     * Records a plain decoding step.
     *
     * @param nanos its wall time
     */
    public void observePlain(long nanos) {
        plainNanos = plainSteps == 0 ? nanos : plainNanos + EMA * (nanos - plainNanos);
        plainSteps++;
        plainTokensTotal++;
        plainNanosTotal += nanos;
        lastWasRound = false;
    }

    /**
     * Records a speculative round.
     *
     * @param d drafter index
     * @param drafted drafts proposed (&gt;= 1)
     * @param accepted drafts accepted
     * @param draftNanos drafting time
     * @param verifyNanos verification time
     */
    public void observeRound(int d, int drafted, int accepted, long draftNanos, long verifyNanos) {
        DrafterStats s = drafters[d];
        endProbe(s, accepted >= 1 && plainNanos > 0
                && (accepted + 1) / (double) (draftNanos + verifyNanos) * plainNanos > 1.0);
        s.observeRate(accepted + 1, draftNanos + verifyNanos);
        s.passedOver = 0; // measured again: the forced re-probe counts from here
        double rate = (double) accepted / drafted;
        s.acceptance += EMA * (rate - s.acceptance);
        s.observeDraftCost((double) draftNanos / drafted);
        if (plainNanos > 0 && drafted >= 1) {
            // Slow average, clamped: a single noisy round must not make every draft look unprofitable.
            double observed = (verifyNanos / plainNanos - 1) / drafted;
            slope += SLOPE_EMA * (Math.max(MIN_SLOPE, Math.min(MAX_SLOPE, observed)) - slope);
        }
        rounds++;
        specTokens += accepted + 1;
        specNanos += draftNanos + verifyNanos;
        lastWasRound = true;
        if (adaptive && rounds >= MIN_ROUNDS_BEFORE_OFF && plainTokensTotal > 0) {
            double specRate = (double) specTokens / specNanos;
            double plainRate = (double) plainTokensTotal / plainNanosTotal;
            if (specRate < SWITCH_OFF_RATIO * plainRate) {
                off = true;
            }
        }
    }

    /**
     * Records a round in which a drafter that runs the model proposed nothing (a self-limiting
     * drafter found no draft worth verifying): its time was spent for no token; what follows (a plain
     * step, or the round of a lookup match passed over for it) is recorded on its own.
     *
     * @param d drafter index
     * @param draftNanos the drafting time
     */
    public void observeEmpty(int d, long draftNanos) {
        DrafterStats s = drafters[d];
        endProbe(s, false);
        s.observeRate(1, draftNanos + plainNanos);
        s.observeDraftCost(draftNanos); // one draft computed, then dropped
        specNanos += draftNanos;
    }

    /** One round's time is noisy; a probe wins when it gained tokens at a cost below a plain step's. */
    private void endProbe(DrafterStats s, boolean won) {
        if (s.probing) { // back off while probes keep losing to plain decoding
            s.probing = false;
            s.probeInterval = won ? REPROBE_EVERY : Math.min(MAX_REPROBE, s.probeInterval * 2);
            s.nextProbe = s.decisions + s.probeInterval;
        }
    }

    /** @return the measured plain decoding step in nanoseconds, 0 before the first */
    public double plainStepNanos() {
        return plainNanos;
    }

    /** @return one more verified row, as a fraction of a plain step (measured, clamped) */
    public double verifyRowCost() {
        return slope;
    }

    /**
     * @param d drafter index
     * @return its measured per-draft acceptance (EMA)
     */
    public double acceptance(int d) {
        return drafters[d].acceptance;
    }

    /** Forgets the switch-off decision (a session reset). Measurements stay. */
    public void reset() {
        off = false;
        rounds = 0;
        specTokens = 0;
        specNanos = 0;
        plainTokensTotal = 0;
        plainNanosTotal = 0;
    }

    private double verifyNanos(int rows) {
        return plainNanos * (1 + slope * (rows - 1));
    }

    /** Measurements of one drafter. */
    private static final class DrafterStats {
        final boolean limitsItself;
        double acceptance;
        double draftNanosPerToken;
        double roundTokens;                 // EMA of tokens per round (empty rounds: 1, the plain step's)
        double roundNanos;                  // EMA of a round's time, same rounds
        long rateRounds;                    // rounds in those averages
        int passedOver;                     // free drafts passed over for a later drafter since last verified
        long rounds;                        // rounds in the draft cost
        long decisions;                     // draftLength calls
        long probeInterval = REPROBE_EVERY; // decisions between probes while unprofitable
        long nextProbe = REPROBE_EVERY;     // decision count of the next probe
        boolean probing;                    // the current round is a probe

        DrafterStats(Prior prior) {
            this.acceptance = prior.acceptance();
            this.limitsItself = prior.limitsItself();
        }

        /** Whether its rounds' rate is past the cold first rounds. */
        boolean rateMeasured() {
            return rateRounds >= COST_WARMUP_ROUNDS;
        }

        /** @return tokens per nanosecond of its rounds (EMA) */
        double rate() {
            return roundTokens / roundNanos;
        }

        void observeRate(int tokens, double nanos) {
            roundTokens = rateRounds == 0 ? tokens : roundTokens + EMA * (tokens - roundTokens);
            roundNanos = rateRounds == 0 ? nanos : roundNanos + EMA * (nanos - roundNanos);
            rateRounds++;
        }

        void observeDraftCost(double perToken) {
            // The first rounds run cold code (JIT, first native runs): keep their fastest, then average.
            draftNanosPerToken = rounds == 0 ? perToken : rounds < COST_WARMUP_ROUNDS
                    ? Math.min(draftNanosPerToken, perToken) : draftNanosPerToken + EMA * (perToken - draftNanosPerToken);
            rounds++;
        }
    }
}
