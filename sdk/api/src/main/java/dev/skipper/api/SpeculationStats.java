package dev.skipper.api;

/**
 * What speculative decoding did during one request.
 *
 * @param rounds draft-then-verify rounds (a round yields its accepted drafts plus one token)
 * @param drafted tokens proposed by drafters
 * @param accepted drafted tokens the full model confirmed
 * @param plainSteps tokens produced by plain single-token steps (warm-up, no draft, or switched off)
 * @param layersPerToken decoder-layer executions (drafting, verification and plain steps, every row)
 *     per decode step of a speculative request (the model's layer count means nothing was saved
 *     or wasted); 0 when speculation is off
 * @param draftMillis wall time spent drafting
 * @param verifyMillis wall time spent verifying (batched forward passes and acceptance)
 * @param switchedOff whether the session turned speculation off because it measured it slower
 *     than plain decoding
 * @param byDrafter the rounds, drafts and accepted drafts of each drafter, in the order a round tries
 *     them (empty when speculation is off)
 */
public record SpeculationStats(long rounds, long drafted, long accepted, long plainSteps, double layersPerToken,
                               double draftMillis, double verifyMillis, boolean switchedOff,
                               java.util.List<DrafterStats> byDrafter) {

    /** No speculation happened. */
    public static final SpeculationStats NONE = new SpeculationStats(0, 0, 0, 0, 0, 0, 0, false);

    // Copies the list.
    public SpeculationStats {
        byDrafter = java.util.List.copyOf(byDrafter);
    }

    /** Without a per-drafter breakdown. */
    public SpeculationStats(long rounds, long drafted, long accepted, long plainSteps, double layersPerToken,
                            double draftMillis, double verifyMillis, boolean switchedOff) {
        this(rounds, drafted, accepted, plainSteps, layersPerToken, draftMillis, verifyMillis, switchedOff,
                java.util.List.of());
    }

    /** @return accepted / drafted, or 0 when nothing was drafted */
    public double acceptanceRate() {
        return drafted == 0 ? 0 : (double) accepted / drafted;
    }

    /** @return accepted drafts per round, or 0 without rounds */
    public double meanAcceptedPerRound() {
        return rounds == 0 ? 0 : (double) accepted / rounds;
    }
}
