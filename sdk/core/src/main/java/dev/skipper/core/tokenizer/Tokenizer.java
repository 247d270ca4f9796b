package dev.skipper.core.tokenizer;

import java.util.OptionalInt;

/**
 * A bundle's tokenizer: text to token ids and back, following the bundle manifest's
 * {@code tokenizer} section. Open one with {@link Tokenizers#open}.
 *
 * <p>The rules are those of the exporter's Python {@code BundleTokenizer}
 * ({@code exporters/skipper_export/verify/tokenizer.py}), so the Java runtime and the exporter's
 * goldens agree token for token:
 *
 * <ul>
 *   <li>{@link #encode} prepends {@link #bosId()} when the manifest says {@code add_bos}, and adds
 *       no other special token (no EOS, no template, no padding, no truncation);
 *   <li>special tokens written in the text, such as {@code <|im_start|>}, become their single ids;
 *   <li>{@link #decode} leaves special tokens out of the text.
 * </ul>
 *
 * <p>{@link #encode} and {@link #decode} may be called from several threads at once. Once the
 * tokenizer is {@linkplain #close() closed} they throw {@link IllegalStateException}, and so do
 * its streaming detokenizers; {@link #vocabSize()}, {@link #bosId()} and {@link #eosIds()} keep
 * working.
 */
public interface Tokenizer extends AutoCloseable {

    /**
     * Encodes text into token ids.
     *
     * @param text the text; special tokens written in it become their ids
     * @return the ids, starting with {@link #bosId()} when the bundle's {@code add_bos} is true
     * @throws NullPointerException if {@code text} is null
     * @throws IllegalStateException if the tokenizer is closed
     */
    int[] encode(String text);

    /**
     * Decodes token ids into text, leaving out special tokens. Ids that are not in the
     * vocabulary ({@code id >= vocabSize()}) produce no text.
     *
     * @param ids the token ids
     * @return the text; invalid byte sequences appear as U+FFFD
     * @throws NullPointerException if {@code ids} is null
     * @throws IllegalArgumentException if an id is negative
     * @throws IllegalStateException if the tokenizer is closed
     */
    String decode(int[] ids);

    /**
     * The size of the tokenizer's vocabulary: every id it produces or knows is below it. It can
     * be smaller than the model's {@code vocab_size} (embedding rows are often padded).
     *
     * @return the number of token ids
     */
    int vocabSize();

    /**
     * The beginning-of-sequence token, when the bundle has one.
     *
     * @return its id, or empty
     */
    OptionalInt bosId();

    /**
     * The tokens that end generation.
     *
     * @return their ids (a copy; may be empty)
     */
    int[] eosIds();

    /**
     * Starts turning a stream of generated token ids into text, one token at a time.
     *
     * @return a new detokenizer for one stream; not thread-safe
     * @throws IllegalStateException if the tokenizer is closed
     */
    StreamingDetokenizer newStreamingDetokenizer();

    /**
     * Releases the native tokenizer. Calling it again does nothing.
     */
    /**
     * The bytes each token id decodes to on its own, for constrained decoding: {@code null} entries
     * for tokens that decode to nothing (special and control tokens).
     *
     * @return {@code [vocab]} bytes, or {@code null} when this tokenizer cannot say (structured
     *     output is then refused)
     */
    default byte[][] tokenBytes() {
        return null;
    }

    @Override
    void close();
}
