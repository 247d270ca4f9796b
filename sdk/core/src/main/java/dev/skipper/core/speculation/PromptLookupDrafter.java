package dev.skipper.core.speculation;


/**
 * Prompt lookup: when the last n tokens occurred earlier in the sequence (prompt or generated
 * text), draft what followed them then. Free (no model call) and strong on input-grounded work
 * (summaries, extraction, code edits) where the output copies spans of the input.
 *
 * <p>Tries n = {@code maxNgram} down to {@code minNgram} and takes the most recent match of the
 * longest n. Drafts are fixed choices ({@link DraftBatch#deterministic}), so sampling verifies them
 * with q one-hot. Writes nothing to the cache.
 */
public final class PromptLookupDrafter implements Drafter {
    private final int maxNgram;
    private final int minNgram;

    /**
     * @param maxNgram longest suffix to match, &gt;= 1
     * @param minNgram shortest suffix to match, 1 .. maxNgram
     */
    public PromptLookupDrafter(int maxNgram, int minNgram) {
        if (maxNgram < 1 || minNgram < 1 || minNgram > maxNgram) {
            throw new IllegalArgumentException("n-gram sizes must satisfy 1 <= min <= max, got " + minNgram + ", "
                    + maxNgram);
        }
        this.maxNgram = maxNgram;
        this.minNgram = minNgram;
    }

    @Override
    public String name() {
        return "ngram";
    }

    @Override
    public boolean runsModel() {
        return false;
    }

    @Override
    public void propose(DraftContext context, int max, Drafts out) {
        out.proposeFixed();
        int[] tokens = context.tokens();
        int length = context.length();
        int start = find(tokens, length);
        if (start < 0) {
            return;
        }
        int n = Math.min(max, length - start);
        for (int i = 0; i < n; i++) {
            out.add(tokens[start + i]);
        }
    }

    /**
     * Where the continuation of the most recent earlier occurrence of the longest matching suffix
     * starts.
     *
     * @param tokens the sequence
     * @param length tokens known
     * @return index of the first token to copy, or -1 without a match
     */
    int find(int[] tokens, int length) {
        for (int n = Math.min(maxNgram, length - 1); n >= minNgram; n--) {
            int suffix = length - n; // the suffix is tokens[suffix, length)
            // An occurrence ends at e (exclusive), e < length, and must be followed by a token.
            for (int e = length - 1; e >= n; e--) {
                if (matches(tokens, e - n, suffix, n)) {
                    return e;
                }
            }
        }
        return -1;
    }

    private static boolean matches(int[] tokens, int a, int b, int n) {
        for (int i = 0; i < n; i++) {
            if (tokens[a + i] != tokens[b + i]) {
                return false;
            }
        }
        return true;
    }
}
