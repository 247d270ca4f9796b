package dev.skipper.core.speculation;

/**
 * Whether one more draft pays for the row it adds to a round's verification: the stop rule of a
 * self-limiting drafter. A round that verifies the pending token and drafts d1..dk yields
 * {@code 1 + P(d1) + P(d1 d2) + ...} tokens on average for {@code 1 + k * rowCost} plain steps;
 * draft i is kept when its chained acceptance, per unit of its row's cost, at least matches the
 * round's expected rate without it ({@code P(d1..di) / rowCost >= tokens / time}); the first failing
 * draft ends the round's drafting. A first draft is thus kept when {@code P(d1) >= rowCost}.
 *
 * <p>Mutable, reused round after round; allocates nothing.
 */
public final class DraftChain {
    private double rowCost; // one more draft: drafting it + verifying its row, in plain steps
    private double chain;   // P(every kept draft accepted)
    private double tokens;  // the round's expected tokens so far
    private double time;    // its cost so far, in plain steps

    /**
     * Starts a round.
     *
     * @param rowCost the marginal cost of one draft, a positive fraction of a plain step
     * @return this
     */
    public DraftChain start(double rowCost) {
        if (!(rowCost > 0) || Double.isInfinite(rowCost)) {
            throw new IllegalArgumentException("a draft's row cost must be a positive fraction of a step, got " + rowCost);
        }
        this.rowCost = rowCost;
        this.chain = 1;
        this.tokens = 1;
        this.time = 1;
        return this;
    }

    /**
     * Offers the next draft.
     *
     * @param acceptance its acceptance given that every earlier draft is accepted, in [0, 1]
     * @return true to keep it (the chain grows), false to stop before it (the chain is unchanged)
     */
    public boolean keep(double acceptance) {
        double next = chain * acceptance;
        if (next * time < rowCost * tokens) {
            return false;
        }
        chain = next;
        tokens += next;
        time += rowCost;
        return true;
    }

    /** @return the round's expected tokens with the drafts kept so far */
    public double expectedTokens() {
        return tokens;
    }
}
