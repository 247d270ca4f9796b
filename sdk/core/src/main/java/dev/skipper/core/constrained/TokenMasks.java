package dev.skipper.core.constrained;

import java.util.Arrays;

/**
 * Which tokens may come next in each grammar state of a document: a bit set over the vocabulary per
 * state, computed the first time the state is reached (one pass over the sorted vocabulary, about a
 * millisecond for 49k tokens) and then reused, so a decoding step costs a lookup and a masked
 * argmax. States are small ids handed out in the order the automaton's configurations are first
 * reached ({@link ByteDfa} states or {@link JsonPushdown} stacks alike). One per request; not
 * thread-safe.
 */
public final class TokenMasks {
    /**
     * Masks kept at once (~6 KB each for a 49k vocabulary: ~6 MB): a long document reaches a new
     * state nearly every token (a string's length, a number's digits), so past this many the cached
     * masks are dropped and recomputed as states come back (a millisecond each, once per
     * {@value} new states), keeping a request's memory flat however long it runs.
     */
    static final int MAX_CACHED_MASKS = 1024;

    private final int maxCachedMasks;
    private int cached;                      // masks[] entries that are not null
    private final ByteAutomaton automaton;
    private final TokenVocabulary vocab;
    private long[] configs = new long[16];  // [states] each state's automaton configuration
    private long[][] masks = new long[16][]; // [states][ceil(vocab / 64)] allowed bits, null until first needed
    private int[] counts = new int[16];      // [states] allowed tokens, -1 until first needed
    private int states;
    private long[] index = new long[64];     // open addressing: configuration + 1 (0: empty) ...
    private int[] indexIds = new int[64];    // ... and its state id
    private final long[] none;               // [ceil(vocab / 64)] the FINISHED state's (empty) mask
    private int computed;
    private final long[] walk;               // [longest token + 1] configurations by depth
    private float[] kept = new float[64];    // [allowed] logits kept while a row is filled

    /**
     * @param automaton the document's automaton
     * @param vocab the model's tokens
     */
    public TokenMasks(ByteAutomaton automaton, TokenVocabulary vocab) {
        this(automaton, vocab, MAX_CACHED_MASKS);
    }

    TokenMasks(ByteAutomaton automaton, TokenVocabulary vocab, int maxCachedMasks) {
        if (maxCachedMasks < 1) {
            throw new IllegalArgumentException("maxCachedMasks must be >= 1: " + maxCachedMasks);
        }
        this.maxCachedMasks = maxCachedMasks;
        this.automaton = automaton;
        this.vocab = vocab;
        int longest = 0;
        for (int k = 0; k < vocab.entries(); k++) {
            longest = Math.max(longest, vocab.bytes(k).length);
        }
        this.walk = new long[longest + 1];
        this.none = new long[(vocab.size() + 63) >> 6];
        intern(automaton.start());
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
        if ((state < 0 || state >= states) && state != FINISHED) {
            throw new IllegalArgumentException("no such grammar state " + state);
        }
        if (state == FINISHED) {
            return none;
        }
        long[] m = masks[state];
        if (m == null) {
            if (cached == maxCachedMasks) {
                Arrays.fill(masks, 0, states, null); // counts stay: they are ints per state
                cached = 0;
            }
            m = compute(configs[state]);
            masks[state] = m;
            cached++;
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
        long next = automaton.walk(configs[state], vocab.bytesOf(token));
        return next == ByteAutomaton.DEAD ? -1 : intern(next);
    }

    /** State after an end-of-sequence token: nothing may follow. */
    public static final int FINISHED = Integer.MIN_VALUE;

    /** @param state a state @return whether the document is complete there */
    public boolean complete(int state) {
        return state == FINISHED || state >= 0 && automaton.accepting(configs[state]);
    }

    /**
     * @param state a state
     * @return whether the document is complete there and cannot go on
     */
    public boolean closed(int state) {
        return state == FINISHED || state >= 0 && automaton.closed(configs[state]);
    }

    /** @return states reached so far */
    public int states() {
        return states;
    }

    /** The id of a configuration, handing out the next one the first time it is seen. */
    private int intern(long config) {
        int mask = index.length - 1;
        int h = (int) (mix(config) & mask);
        while (index[h] != 0) {
            if (index[h] == config + 1) {
                return indexIds[h];
            }
            h = (h + 1) & mask;
        }
        if (states == configs.length) {
            int n = states * 2;
            configs = Arrays.copyOf(configs, n);
            masks = Arrays.copyOf(masks, n);
            counts = Arrays.copyOf(counts, n);
        }
        int id = states++;
        configs[id] = config;
        counts[id] = -1;
        index[h] = config + 1;
        indexIds[h] = id;
        if (states * 2 > index.length) {
            rehash();
        }
        return id;
    }

    private void rehash() {
        long[] oldIndex = index;
        int[] oldIds = indexIds;
        index = new long[oldIndex.length * 2];
        indexIds = new int[index.length];
        int mask = index.length - 1;
        for (int i = 0; i < oldIndex.length; i++) {
            if (oldIndex[i] != 0) {
                int h = (int) (mix(oldIndex[i] - 1) & mask);
                while (index[h] != 0) {
                    h = (h + 1) & mask;
                }
                index[h] = oldIndex[i];
                indexIds[h] = oldIds[i];
            }
        }
    }

    private static long mix(long x) {
        x *= 0x9E3779B97F4A7C15L;
        return x ^ (x >>> 29);
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
            Arrays.fill(logits, offset, offset + n, Float.NEGATIVE_INFINITY);
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

    /** @return masks held now (at most {@link #MAX_CACHED_MASKS}) */
    int cachedMasks() {
        return cached;
    }

    /** @return mask computations so far, recomputations after a drop included (for tests and stats) */
    public int computedStates() {
        return computed;
    }

    private long[] compute(long config) {
        long[] m = new long[(vocab.size() + 63) >> 6];
        walk[0] = config;
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
            long s = walk[d];
            while (d < b.length) {
                s = automaton.next(s, b[d] & 0xff);
                if (s == ByteAutomaton.DEAD) {
                    dead = d; // bytes[0..d] left the language: so does every entry sharing them
                    break;
                }
                walk[++d] = s;
            }
            valid = d;
            if (s != ByteAutomaton.DEAD) {
                int id = vocab.id(k);
                m[id >> 6] |= 1L << (id & 63);
            }
        }
        if (automaton.accepting(config)) {
            for (int e : vocab.eos()) {
                if (e >= 0 && e < vocab.size()) {
                    m[e >> 6] |= 1L << (e & 63);
                }
            }
        }
        return m;
    }
}
