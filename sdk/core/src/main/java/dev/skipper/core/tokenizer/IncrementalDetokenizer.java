package dev.skipper.core.tokenizer;

import java.util.Arrays;
import java.util.Objects;

/**
 * The {@link StreamingDetokenizer} of both tokenizer kinds: it decodes a small window of tokens
 * and prints the part of the window's text that lies past the text it printed before.
 *
 * <p><b>Holding back.</b> A decoder shows a UTF-8 sequence that the tokens so far cut short as
 * U+FFFD at the end of the text. The text up to that trailing run of U+FFFD is printed; the run is
 * held until later tokens complete it (or show it invalid: then it is followed by other text and
 * printed as it is).
 *
 * <p><b>The window.</b> It starts with the <em>anchor</em>: the last token with text of its own
 * ({@link DetokenizerSource#rendersText}) among those pushed up to the last <em>clean</em> point,
 * a push after which the text ended with a whole character. Decoding the anchor together with the
 * later tokens gives these the spacing they have in the whole sequence: SentencePiece (and the
 * Metaspace/Strip decoders of Hugging Face) drop the leading space of the first piece of a text,
 * so a piece such as {@code ▁world} decodes to {@code world} alone but to {@code " world"} after
 * another piece; and cutting the byte stream at a clean point splits no character. Before any
 * token with text has been printed, the window starts at the beginning of the stream, which gives
 * exactly the whole sequence's decoding. Tokens that decoding drops
 * ({@link DetokenizerSource#isDropped}: special tokens) never enter the window.
 *
 * <p><b>Bound.</b> Valid UTF-8 usually reaches a clean point within a few tokens. Should
 * {@value #MAX_PENDING} tokens pass without one (a run of byte-level tokens that each end inside
 * a character), the window restarts at its last {@value #TAIL} tokens, which still hold the whole
 * cut-short end (see {@link #rebase}). So a push never decodes more than {@value #MAX_PENDING}
 * tokens or so, and the printed text equals {@link Tokenizer#decode} of the stream; the one
 * exception is invalid bytes just before a cut-short end at a restart, which are then printed as
 * U+FFFD at once, even if later bytes would have completed that end.
 */
final class IncrementalDetokenizer implements StreamingDetokenizer {
    /** Most tokens pushed since the last clean point before the window restarts. */
    static final int MAX_PENDING = 16;

    /** Tokens kept when the window restarts without a clean point. */
    private static final int TAIL = 4;

    private static final char REPLACEMENT = '\uFFFD';

    private final DetokenizerSource source;
    /** The anchor (when any) followed by the tokens pushed after it; {@code size} are used. */
    private int[] window = new int[16];
    private int size;
    /** {@code window[0, clean)} were pushed by the last clean point. */
    private int clean;
    /** The window's text printed so far: the decoding of {@code window[0, clean)} and maybe more. */
    private String printedText = "";

    /**
     * A detokenizer for one stream.
     *
     * @param source the tokenizer's decoding
     */
    IncrementalDetokenizer(DetokenizerSource source) {
        this.source = Objects.requireNonNull(source, "source");
    }

    @Override
    public String push(int tokenId) {
        if (tokenId < 0) {
            throw new IllegalArgumentException("negative token id: " + tokenId);
        }
        source.ensureOpen();
        if (source.isDropped(tokenId)) {
            return "";
        }
        if (size == window.length) {
            window = Arrays.copyOf(window, size * 2);
        }
        window[size++] = tokenId;
        String text = source.decode(window, 0, size);
        int whole = wholeLength(text);
        if (whole == text.length()) {
            return printAll(text);
        }
        // Print the whole characters; hold the cut-short end.
        String out = "";
        if (whole > printedText.length() && text.startsWith(printedText)) {
            out = text.substring(printedText.length(), whole);
            printedText = text.substring(0, whole);
        }
        if (size - clean >= MAX_PENDING) {
            out += rebase(text);
        }
        return out;
    }

    @Override
    public String flush() {
        source.ensureOpen();
        String out = size > 0 ? newText(source.decode(window, 0, size)) : "";
        size = 0;
        clean = 0;
        printedText = "";
        return out;
    }

    /**
     * Tokens in the window now: the anchor, tokens pushed after it (for tests of the window's
     * bound).
     *
     * @return the window's length
     */
    int windowLength() {
        return size;
    }

    /** The length of the text without its trailing run of U+FFFD (or half surrogate pair). */
    private static int wholeLength(String text) {
        int n = text.length();
        while (n > 0 && (text.charAt(n - 1) == REPLACEMENT || Character.isHighSurrogate(text.charAt(n - 1)))) {
            n--;
        }
        return n;
    }

    /**
     * Shortens a window that has had no clean point for {@value #MAX_PENDING} tokens (every token
     * ending inside a character). The held end of the text lies in the last few tokens (at most 3
     * bytes, at least one byte per token), so the window restarts {@value #TAIL} tokens from its
     * end: if the decoding of those tokens ends with the same held text, the characters in front
     * of it (those tokens' own cut-short start, which no later token can change, and text already
     * printed) count as printed. Otherwise (invalid bytes before the held end, control pieces in
     * the way) everything is printed as it stands.
     */
    private String rebase(String text) {
        if (text.startsWith(printedText) && size > TAIL) {
            String held = text.substring(printedText.length());
            String tail = source.decode(window, size - TAIL, size);
            if (tail.length() > held.length() && tail.endsWith(held)) {
                System.arraycopy(window, size - TAIL, window, 0, TAIL);
                size = TAIL;
                clean = size;
                printedText = tail.substring(0, tail.length() - held.length());
                return "";
            }
        }
        return printAll(text);
    }

    /** Prints the whole window's text: a clean point. Returns the new text and moves the anchor. */
    private String printAll(String text) {
        String out = newText(text);
        int anchor = size - 1;
        while (anchor > 0 && !source.rendersText(window[anchor])) {
            anchor--;
        }
        if (anchor > 0) {
            System.arraycopy(window, anchor, window, 0, size - anchor);
            size -= anchor;
            printedText = source.decode(window, 0, size);
        } else {
            // The anchor stays (or, with no token with text yet, the window still starts at the
            // beginning of the stream).
            printedText = text;
        }
        clean = size;
        return out;
    }

    /** The part of the window's text past what was printed. */
    private String newText(String text) {
        if (text.startsWith(printedText)) {
            return text.substring(printedText.length());
        }
        // Not expected from the tokenizers Skipper supports (their decoders only append, and a
        // clean point splits no character): the text printed before changed. Print what lies past
        // its length, never half a surrogate pair.
        int cut = Math.min(printedText.length(), text.length());
        if (cut > 0 && cut < text.length() && Character.isLowSurrogate(text.charAt(cut))
                && Character.isHighSurrogate(text.charAt(cut - 1))) {
            cut--;
        }
        return text.substring(cut);
    }
}
