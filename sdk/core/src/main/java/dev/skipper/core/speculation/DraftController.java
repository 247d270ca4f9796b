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
     * @param maxDraft most drafts per round, &gt;= 1
     * @param drafterCount drafters the policy may choose among (indices 0 ..)
     * @param priorAcceptance initial per-draft acceptance guess per drafter
     * @param adaptive adapt online (else: fixed draft length, no plain steps by choice, never off)
     */
    public DraftController(int maxDraft, int drafterCount, double[] priorAcceptance, boolean adaptive) {
        this.adaptive = adaptive;
        if (maxDraft < 1) {
            throw new IllegalArgumentException("max draft tokens must be >= 1, got " + maxDraft);
        }
        this.maxDraft = maxDraft;
        this.drafters = new DrafterStats[drafterCount];
        for (int i = 0; i < drafterCount; i++) {
            drafters[i] = new DrafterStats(priorAcceptance[i]);
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
        if (s.probing) { // back off while probes keep losing to plain decoding
            s.probing = false;
            // One round's time is noisy; a probe wins when it gained tokens at a cost below that.
            boolean won = accepted >= 1 && plainNanos > 0
                    && (accepted + 1) / (double) (draftNanos + verifyNanos) * plainNanos > 1.0;
            s.probeInterval = won ? REPROBE_EVERY : Math.min(MAX_REPROBE, s.probeInterval * 2);
            s.nextProbe = s.decisions + s.probeInterval;
        }
        double rate = (double) accepted / drafted;
        s.acceptance += EMA * (rate - s.acceptance);
        double perToken = (double) draftNanos / drafted;
        // The first rounds run cold code (JIT, first native runs): keep their fastest, then average.
        s.draftNanosPerToken = s.rounds == 0 ? perToken : s.rounds < COST_WARMUP_ROUNDS
                ? Math.min(s.draftNanosPerToken, perToken) : s.draftNanosPerToken + EMA * (perToken - s.draftNanosPerToken);
        s.rounds++;
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
        double acceptance;
        double draftNanosPerToken;
        long rounds;
        long decisions;                     // draftLength calls
        long probeInterval = REPROBE_EVERY; // decisions between probes while unprofitable
        long nextProbe = REPROBE_EVERY;     // decision count of the next probe
        boolean probing;                    // the current round is a probe

        DrafterStats(double prior) {
            this.acceptance = prior;
        }
    }
}
