package dev.skipper.core.constrained;

/**
 * One request's position in its document: masks the next token's logits and advances on the
 * chosen token. Not thread-safe.
 */
public final class Constraint {
    private final TokenMasks masks;
    private int state;

    /**
     * @param automaton the document's automaton
     * @param vocab the model's tokens
     */
    public Constraint(ByteAutomaton automaton, TokenVocabulary vocab) {
        this.masks = new TokenMasks(automaton, vocab);
        this.state = masks.start();
    }

    /** @return the current state (after every token {@link #advance} was given) */
    public int state() {
        return state;
    }

    /**
     * Leaves only the allowed tokens' logits finite, in the current state.
     *
     * @param logits {@code [vocab]} at {@code offset}
     * @param offset the row's start
     */
    public void mask(float[] logits, int offset) {
        mask(state, logits, offset);
    }

    /**
     * Masks a row for a state ahead of the current one (a verification row after drafts). A state
     * where the document is complete is left unmasked: whatever is chosen there is never emitted.
     *
     * @param at the state ({@link #lookahead})
     * @param logits {@code [vocab]} at {@code offset}
     * @param offset the row's start
     */
    public void mask(int at, float[] logits, int offset) {
        if (!finished(at)) {
            masks.apply(at, logits, offset);
        }
    }

    /**
     * @param at a state
     * @param token a token
     * @return the state after it, without changing this constraint; -1 if it is not allowed
     */
    public int lookahead(int at, int token) {
        return finished(at) ? at : masks.advance(at, token);
    }

    /**
     * @param token the token chosen from masked logits
     * @throws IllegalStateException if it was not allowed (a bug: the logits were not masked)
     */
    public void advance(int token) {
        int next = masks.advance(state, token);
        if (next == -1) {
            throw new IllegalStateException("token " + token + " is not allowed in grammar state " + state);
        }
        state = next;
    }

    /**
     * @return whether the document is complete and cannot go on (an end-of-sequence token was
     *     chosen, or the automaton has no byte left to accept): generation should end
     */
    public boolean finished() {
        return finished(state);
    }

    private boolean finished(int state) {
        return masks.closed(state);
    }


    /** @return grammar states whose masks were computed so far */
    public int computedStates() {
        return masks.computedStates();
    }
}
