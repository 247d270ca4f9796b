package dev.skipper.core.speculation;

/**
 * Whether one more draft pays for what it adds to a round: the stop rule of a self-limiting
 * drafter. A round that verifies the pending token and drafts d1..dk yields
 * {@code 1 + P(d1) + P(d1 d2) + ...} tokens on average for {@code 1 + cost(d1) + ... + cost(dk)}
 * plain steps, where a draft's cost is what it adds: its verified row, plus computing it when it
 * is not the catch-up pass's by-product (a drafter's first draft comes with the catch-up that keeps
 * its cache current, which is spent either way). Draft i is kept when its chained acceptance per
 * unit of its cost at least matches the round's expected rate without it
 * ({@code P(d1..di) / cost(di) >= tokens / time}); the first failing draft ends the round's
 * drafting. A first draft is thus kept when {@code P(d1) >= cost(d1)}.
 *
 * <p>Mutable, reused round after round; allocates nothing.
 */
public final class DraftChain {
    private double chain;   // P(every kept draft accepted)
    private double tokens;  // the round's expected tokens so far
    private double time;    // its cost so far, in plain steps

    /**
     * Starts a round: the pending token alone, one plain step.
     *
     * @return this
     */
    public DraftChain start() {
        this.chain = 1;
        this.tokens = 1;
        this.time = 1;
        return this;
    }

    /**
     * Offers the next draft.
     *
     * @param acceptance its acceptance given that every earlier draft is accepted, in [0, 1]
     * @param cost what keeping it adds, a positive fraction of a plain step
     * @return true to keep it (the chain grows), false to stop before it (the chain is unchanged)
     */
    public boolean keep(double acceptance, double cost) {
        if (!(cost > 0) || Double.isInfinite(cost)) {
            throw new IllegalArgumentException("a draft's cost must be a positive fraction of a step, got " + cost);
        }
        double next = chain * acceptance;
        if (next * time < cost * tokens) {
            return false;
        }
        chain = next;
        tokens += next;
        time += cost;
        return true;
    }

    /**
     * Whether a draft of this acceptance and cost would be kept, without offering it: a drafter
     * asks with the best acceptance it could have before spending a step on computing it.
     *
     * @param acceptance its acceptance given that every earlier draft is accepted, in [0, 1]
     * @param cost what keeping it would add, a positive fraction of a plain step
     * @return true when {@link #keep} would keep it
     */
    public boolean wouldKeep(double acceptance, double cost) {
        return chain * acceptance * time >= cost * tokens;
    }

    /** @return the round's expected tokens with the drafts kept so far */
    public double expectedTokens() {
        return tokens;
    }
}
