package dev.skipper.core.sampling;

import java.util.Objects;

/**
 * The token ids of a sequence so far, of which the last {@link #window()} are the "recent" tokens
 * the repetition penalty looks at.
 *
 * <p>The whole sequence is kept (up to a fixed capacity, normally the context length) rather than a
 * ring of the last {@code window} tokens, so that {@link #truncate(int)} can undo drafted tokens
 * exactly: after a speculative round rejects drafts, the window must be what it would have been had
 * the drafts never been added, including tokens a ring would already have overwritten.
 *
 * <p>Nothing is allocated after construction. Not thread-safe: one instance per session.
 */
public final class RecentTokens {
    /** Token ids, oldest first; [0, length) valid. */
    private final int[] tokens;
    /** How many of the newest tokens count as recent. */
    private final int window;
    private int length;

    /**
     * Creates an empty sequence.
     *
     * @param capacity most tokens the sequence can hold (the session's context length)
     * @param window how many of the newest tokens {@link #size()} and {@link #get(int)} expose
     *     (llama.cpp's {@code repeat_last_n} defaults to 64)
     */
    public RecentTokens(int capacity, int window) {
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity must be >= 1, got " + capacity);
        }
        if (window < 1) {
            throw new IllegalArgumentException("window must be >= 1, got " + window);
        }
        this.tokens = new int[capacity];
        this.window = window;
    }

    /**
     * Appends a token.
     *
     * @param token the token id
     * @throws IllegalStateException when the sequence already holds {@link #capacity()} tokens
     */
    public void add(int token) {
        if (length == tokens.length) {
            throw new IllegalStateException("token history is full (" + tokens.length + " tokens)");
        }
        tokens[length++] = token;
    }

    /**
     * Appends {@code ids[from..to)}, such as a prompt.
     *
     * @param ids token ids
     * @param from first index, inclusive
     * @param to last index, exclusive
     * @throws IllegalStateException when they do not fit
     */
    public void addAll(int[] ids, int from, int to) {
        Objects.checkFromToIndex(from, to, ids.length);
        if (to - from > tokens.length - length) {
            throw new IllegalStateException("token history would exceed " + tokens.length + " tokens");
        }
        System.arraycopy(ids, from, tokens, length, to - from);
        length += to - from;
    }

    /**
     * Drops the newest tokens so that {@code newLength} remain (rolls back rejected drafts).
     *
     * @param newLength tokens to keep, from 0 to {@link #length()}
     */
    public void truncate(int newLength) {
        if (newLength < 0 || newLength > length) {
            throw new IllegalArgumentException("newLength must be in [0, " + length + "], got " + newLength);
        }
        length = newLength;
    }

    /** Empties the sequence (a new conversation). */
    public void clear() {
        length = 0;
    }

    /**
     * Tokens in the whole sequence.
     *
     * @return from 0 to {@link #capacity()}
     */
    public int length() {
        return length;
    }

    /**
     * Most tokens the sequence can hold.
     *
     * @return the capacity given at construction
     */
    public int capacity() {
        return tokens.length;
    }

    /**
     * How many of the newest tokens are recent.
     *
     * @return the window given at construction
     */
    public int window() {
        return window;
    }

    /**
     * Number of recent tokens: the smaller of {@link #length()} and {@link #window()}.
     *
     * @return the count
     */
    public int size() {
        return Math.min(length, window);
    }

    /**
     * A recent token.
     *
     * @param i 0 for the oldest recent token, {@code size() - 1} for the newest
     * @return its id
     */
    public int get(int i) {
        int size = size();
        Objects.checkIndex(i, size);
        return tokens[length - size + i];
    }
}
