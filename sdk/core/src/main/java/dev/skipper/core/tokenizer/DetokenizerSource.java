package dev.skipper.core.tokenizer;

/** What {@link IncrementalDetokenizer} needs to know about a tokenizer's decoding. */
interface DetokenizerSource {

    /**
     * Throws when the tokenizer is closed.
     *
     * @throws IllegalStateException if it is
     */
    void ensureOpen();

    /**
     * Decodes {@code ids[from, to)} exactly as {@link Tokenizer#decode} would decode those ids.
     *
     * @param ids token ids, all non-negative
     * @param from first index
     * @param to end index (exclusive)
     * @return the text
     * @throws IllegalStateException if the tokenizer is closed
     */
    String decode(int[] ids, int from, int to);

    /**
     * Whether decoding drops this token before anything else happens, so that leaving it out of
     * any sequence does not change that sequence's text (special tokens, unknown ids).
     *
     * @param id a non-negative token id
     * @return true for a token with no effect at all on decoding
     */
    boolean isDropped(int id);

    /**
     * Whether the token contributes text of its own where it stands, so that it can serve as left
     * context: decoding it followed by more tokens gives its own text followed by theirs. False
     * for tokens that decode to nothing but still take part in decoding (SentencePiece control
     * pieces not listed as special tokens).
     *
     * @param id a token id that is not {@linkplain #isDropped dropped}
     * @return true for a token with text of its own
     */
    boolean rendersText(int id);
}
