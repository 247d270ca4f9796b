package dev.skipper.core.tokenizer;

/**
 * Turns generated token ids into text as they arrive, for streaming output.
 *
 * <p>The strings returned by {@link #push} and {@link #flush}, concatenated, equal
 * {@link Tokenizer#decode} of all the pushed ids. No returned string ever ends inside a
 * character: while the newest tokens hold only part of a UTF-8 sequence (byte-level BPE tokens,
 * SentencePiece byte-fallback tokens such as {@code <0xE6>}), that part is held back and comes out,
 * whole, with the token that completes it. No returned string holds a lone surrogate, and none
 * holds U+FFFD unless the tokens themselves encode invalid UTF-8.
 *
 * <p>Byte-level BPE tokenizers (a {@code ByteLevel} decoder: SmolLM2, Llama 3, Qwen) stream their
 * tokens' bytes ({@code ByteLevelDetokenizer}): exact for any ids, invalid UTF-8 included. Other
 * tokenizers (SentencePiece, Metaspace) decode a short window of recent tokens on each push (the
 * last one printed, for their spacing rules, plus those held back), so its cost does not grow with
 * the length of the stream; the window is bounded: should 16 tokens in a row each end inside a
 * character (which valid UTF-8 does not do), the held bytes are printed as U+FFFD, and only then can
 * the streamed text differ from {@code decode}.
 *
 * <p>Not thread-safe: one detokenizer serves one stream. Create one per generation with
 * {@link Tokenizer#newStreamingDetokenizer()}.
 */
public interface StreamingDetokenizer {

    /**
     * Adds the next generated token.
     *
     * @param tokenId the token id
     * @return the text that became printable with this token; often one token's text, empty
     *     while a character is incomplete or for special tokens
     * @throws IllegalArgumentException if {@code tokenId} is negative
     * @throws IllegalStateException if the tokenizer is closed
     */
    String push(int tokenId);

    /**
     * Ends the stream: returns whatever text is still held back (an incomplete character comes
     * out as U+FFFD) and starts over, so that the next {@link #push} begins a new stream.
     *
     * @return the held-back text, often empty
     * @throws IllegalStateException if the tokenizer is closed
     */
    String flush();
}
