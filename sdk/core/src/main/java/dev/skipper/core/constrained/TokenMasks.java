package dev.skipper.core.constrained;


/**
 * Which tokens may come next in each state of a document's {@link ByteDfa}: a bit set over the
 * vocabulary per state, computed the first time the state is reached (one pass over the sorted
 * vocabulary, about a millisecond for 49k tokens) and then reused, so a decoding step costs a
 * lookup and a masked argmax. One per request; not thread-safe.
 */
public final class TokenMasks {
    private final ByteDfa dfa;
    private final TokenVocabulary vocab;
    private final long[][] masks;      // [states][ceil(vocab / 64)] allowed bits, null until first needed
    private final int[] counts;        // [states] allowed tokens, -1 until first needed
    private final long[] none;         // [ceil(vocab / 64)] the FINISHED state's (empty) mask
    private int computed;
    private final int[] walk;                                    // [longest token + 1] states by depth
    private float[] kept = new float[64];                         // [allowed] logits kept while a row is filled

    /**
     * @param dfa the document's automaton
     * @param vocab the model's tokens
     */
    public TokenMasks(ByteDfa dfa, TokenVocabulary vocab) {
        this.dfa = dfa;
        this.vocab = vocab;
        int longest = 0;
        for (int k = 0; k < vocab.entries(); k++) {
            longest = Math.max(longest, vocab.bytes(k).length);
        }
        this.walk = new int[longest + 1];
        this.masks = new long[dfa.states()][];
        this.counts = new int[dfa.states()];
        java.util.Arrays.fill(counts, -1);
        this.none = new long[(vocab.size() + 63) >> 6];
    }

    /** @return the start state */
    public int start() {
        return 0;
    }

    /**
     * @param state a state
     * @return the allowed tokens' bits (do not modify)
     */
    public long[] allowed(int state) {
        if (state < 0 && state != FINISHED) {
            throw new IllegalArgumentException("no such grammar state " + state);
        }
        if (state == FINISHED) {
            return none;
        }
        long[] m = masks[state];
        if (m == null) {
            m = compute(state);
            masks[state] = m;
            computed++;
        }
        return m;
    }

    /**
     * @param state a state
     * @param token a token id
     * @return whether the token may come next
     */
    public boolean allows(int state, int token) {
        long[] m = allowed(state);
        return token >= 0 && token < vocab.size() && (m[token >> 6] & (1L << (token & 63))) != 0;
    }

    /**
     * @param state a state
     * @param token an allowed token
     * @return the state after it ({@link #FINISHED} after an end-of-sequence token), or -1 if not allowed
     */
    public int advance(int state, int token) {
        if (!allows(state, token)) {
            return -1;
        }
        for (int e : vocab.eos()) {
            if (e == token) {
                return FINISHED;
            }
        }
        return dfa.walk(state, vocab.bytesOf(token));
    }

    /** State after an end-of-sequence token: nothing may follow. */
    public static final int FINISHED = Integer.MIN_VALUE;

    /** @param state a state @return whether the document is complete there */
    public boolean complete(int state) {
        return state == FINISHED || state >= 0 && dfa.accepting(state);
    }

    /**
     * Sets the logits of disallowed tokens to negative infinity.
     *
     * @param state the state
     * @param logits {@code [vocab]} logits at {@code offset}
     * @param offset start of the row
     */
    public void apply(int state, float[] logits, int offset) {
        long[] m = allowed(state);
        int n = vocab.size();
        int allowedCount = state == FINISHED ? 0 : counts[state];
        if (allowedCount < 0) {
            allowedCount = 0;
            for (long w : m) {
                allowedCount += Long.bitCount(w);
            }
            counts[state] = allowedCount;
        }
        if (allowedCount * 4 < n) {
            // Few allowed (structure, enums): keep their logits, fill the row, put them back.
            if (kept.length < allowedCount) {
                kept = new float[allowedCount];
            }
            int k = 0;
            for (int w = 0; w < m.length; w++) {
                long word = m[w];
                while (word != 0) {
                    kept[k++] = logits[offset + ((w << 6) | Long.numberOfTrailingZeros(word))];
                    word &= word - 1;
                }
            }
            java.util.Arrays.fill(logits, offset, offset + n, Float.NEGATIVE_INFINITY);
            k = 0;
            for (int w = 0; w < m.length; w++) {
                long word = m[w];
                while (word != 0) {
                    logits[offset + ((w << 6) | Long.numberOfTrailingZeros(word))] = kept[k++];
                    word &= word - 1;
                }
            }
            return;
        }
        for (int w = 0; w < m.length; w++) {
            long word = ~m[w];
            while (word != 0) {
                int t = (w << 6) | Long.numberOfTrailingZeros(word);
                word &= word - 1;
                if (t >= n) {
                    break;
                }
                logits[offset + t] = Float.NEGATIVE_INFINITY;
            }
        }
    }

    /** @return states whose masks were computed (for tests and stats) */
    public int computedStates() {
        return computed;
    }

    private long[] compute(int state) {
        long[] m = new long[(vocab.size() + 63) >> 6];
        walk[0] = state;
        int dead = Integer.MAX_VALUE; // depth at which the previous walk died (its prefix is dead)
        int valid = 0;                // depth up to which walk[] holds the previous entry's states
        for (int k = 0; k < vocab.entries(); k++) {
            int sharedLen = vocab.shared(k);
            if (sharedLen > dead) {
                continue; // extends a prefix that already left the language
            }
            byte[] b = vocab.bytes(k);
            int d = Math.min(sharedLen, valid);
            dead = Integer.MAX_VALUE;
            int s = walk[d];
            while (d < b.length) {
                s = dfa.next(s, b[d] & 0xff);
                if (s < 0) {
                    dead = d; // bytes[0..d] left the language: so does every entry sharing them
                    break;
                }
                walk[++d] = s;
            }
            valid = d;
            if (s >= 0) {
                int id = vocab.id(k);
                m[id >> 6] |= 1L << (id & 63);
            }
        }
        if (dfa.accepting(state)) {
            for (int e : vocab.eos()) {
                if (e >= 0 && e < vocab.size()) {
                    m[e >> 6] |= 1L << (e & 63);
                }
            }
        }
        return m;
    }
}
