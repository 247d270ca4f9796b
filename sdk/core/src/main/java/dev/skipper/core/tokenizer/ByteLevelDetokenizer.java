package dev.skipper.core.tokenizer;

import java.util.Arrays;
import java.util.Objects;

/**
 * The {@link StreamingDetokenizer} of byte-level BPE tokenizers (GPT-2 style {@code ByteLevel}
 * decoders: SmolLM2, Llama 3, Qwen): every token is a byte string, the text is the lossy UTF-8
 * decoding of their concatenation ({@link Utf8Lossy}: one U+FFFD per maximal ill-formed subpart, as
 * the tokenizer decodes), so streaming is exact. Each push appends the token's bytes and
 * prints everything but a trailing run that is still the valid beginning of a character (at most 3
 * bytes); bytes that can no longer become a character are printed as U+FFFD right away, which is
 * what decoding the whole stream gives them too, because a lossy decoder restarts cleanly after a
 * whole character or a whole invalid subsequence. Equal to {@link Tokenizer#decode} of the pushed
 * ids after any number of tokens, valid UTF-8 or not; the per-push cost is the token's own bytes.
 */
final class ByteLevelDetokenizer implements StreamingDetokenizer {
    private final byte[][] tokenBytes; // [id] the token's bytes, or null for a token decoding drops
    private final Runnable ensureOpen;
    private final byte[] held = new byte[3]; // a character's first bytes, waiting for the rest
    private int heldLength;
    private byte[] scratch = new byte[64]; // held bytes + the new token's, grown on demand

    /**
     * @param tokenBytes each id's bytes (null: dropped by decoding, as special tokens are)
     * @param ensureOpen throws {@link IllegalStateException} when the tokenizer is closed
     */
    ByteLevelDetokenizer(byte[][] tokenBytes, Runnable ensureOpen) {
        this.tokenBytes = Objects.requireNonNull(tokenBytes, "tokenBytes");
        this.ensureOpen = Objects.requireNonNull(ensureOpen, "ensureOpen");
    }

    @Override
    public String push(int tokenId) {
        if (tokenId < 0) {
            throw new IllegalArgumentException("negative token id: " + tokenId);
        }
        ensureOpen.run();
        byte[] b = tokenId < tokenBytes.length ? tokenBytes[tokenId] : null;
        if (b == null || b.length == 0) {
            return "";
        }
        int n = heldLength + b.length;
        if (scratch.length < n) {
            scratch = Arrays.copyOf(scratch, Math.max(n, 2 * scratch.length));
        }
        System.arraycopy(held, 0, scratch, 0, heldLength);
        System.arraycopy(b, 0, scratch, heldLength, b.length);
        int keep = incompleteTail(scratch, n);
        heldLength = keep;
        System.arraycopy(scratch, n - keep, held, 0, keep);
        return n - keep == 0 ? "" : Utf8Lossy.decode(scratch, 0, n - keep);
    }

    @Override
    public String flush() {
        ensureOpen.run();
        String out = heldLength == 0 ? "" : Utf8Lossy.decode(held, 0, heldLength);
        heldLength = 0;
        return out;
    }

    /**
     * How many bytes at the end of {@code b[0, n)} are the valid start of a UTF-8 character that
     * more bytes could still complete (0 to 3): a lead byte followed by fewer continuation bytes
     * than it needs, each inside the range Unicode allows at its position (so that overlong forms,
     * surrogates and code points past U+10FFFF are never held: they are invalid already).
     */
    static int incompleteTail(byte[] b, int n) {
        for (int back = 1; back <= Math.min(3, n); back++) {
            int lead = b[n - back] & 0xFF;
            if (lead < 0x80) {
                return 0; // ASCII: nothing after it can be part of a character begun earlier
            }
            if (lead < 0xC0) {
                continue; // a continuation byte: look further back for its lead
            }
            int need = Utf8Lossy.continuations(lead) + 1; // bytes of the whole character
            if (need == 1 || need <= back) {
                return 0; // not a lead (C0, C1, F5..FF) or already complete (or invalid) with what follows
            }
            for (int i = 1; i < back; i++) {
                int c = b[n - back + i] & 0xFF;
                // the second byte's range depends on the lead (Unicode Table 3-7)
                int lo = i == 1 ? Utf8Lossy.secondLow(lead) : 0x80;
                int hi = i == 1 ? Utf8Lossy.secondHigh(lead) : 0xBF;
                if (c < lo || c > hi) {
                    return 0; // invalid already: decoding prints it as U+FFFD now and later alike
                }
            }
            return back;
        }
        return 0; // three continuation bytes: no lead within reach, nothing can complete them
    }
}
