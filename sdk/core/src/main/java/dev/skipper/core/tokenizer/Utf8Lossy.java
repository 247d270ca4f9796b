package dev.skipper.core.tokenizer;

/**
 * Lossy UTF-8 decoding the way Hugging Face tokenizers decode (Rust's {@code from_utf8_lossy}): each
 * maximal subpart of an ill-formed sequence becomes one U+FFFD (the Unicode Standard's recommended
 * practice, section 3.9). Java's own decoder differs: it turns {@code ED A0} (a surrogate's
 * beginning) into one U+FFFD where the recommended practice gives two, so a streamed text decoded
 * with it would not equal the tokenizer's decoding.
 */
final class Utf8Lossy {
    private static final char REPLACEMENT = '\uFFFD';

    private Utf8Lossy() {
    }

    /**
     * @param b bytes
     * @param from first index
     * @param to end index (exclusive)
     * @return the text; a sequence cut short at {@code to} is one U+FFFD
     */
    static String decode(byte[] b, int from, int to) {
        StringBuilder out = new StringBuilder(to - from);
        int i = from;
        while (i < to) {
            int b0 = b[i] & 0xFF;
            if (b0 < 0x80) {
                out.append((char) b0);
                i++;
                continue;
            }
            int need = continuations(b0);
            if (need == 0) {
                out.append(REPLACEMENT); // 80..C1, F5..FF never start a character
                i++;
                continue;
            }
            int j = i + 1;
            int cp = b0 & (0x3F >> need);
            boolean whole = true;
            for (int k = 0; k < need; k++, j++) {
                if (j >= to) {
                    whole = false; // cut short at the end
                    break;
                }
                int c = b[j] & 0xFF;
                int lo = k == 0 ? secondLow(b0) : 0x80;
                int hi = k == 0 ? secondHigh(b0) : 0xBF;
                if (c < lo || c > hi) {
                    whole = false; // the maximal subpart ends before this byte
                    break;
                }
                cp = (cp << 6) | (c & 0x3F);
            }
            if (whole) {
                out.appendCodePoint(cp);
            } else {
                out.append(REPLACEMENT);
            }
            i = j;
        }
        return out.toString();
    }

    /** Continuation bytes a lead byte needs (Unicode Table 3-7), 0 for a byte that is no lead. */
    static int continuations(int lead) {
        if (lead >= 0xC2 && lead <= 0xDF) {
            return 1;
        }
        if (lead >= 0xE0 && lead <= 0xEF) {
            return 2;
        }
        if (lead >= 0xF0 && lead <= 0xF4) {
            return 3;
        }
        return 0;
    }

    /** Lowest second byte after a lead (Table 3-7: E0 A0, F0 90, else 80). */
    static int secondLow(int lead) {
        return lead == 0xE0 ? 0xA0 : lead == 0xF0 ? 0x90 : 0x80;
    }

    /** Highest second byte after a lead (Table 3-7: ED 9F, F4 8F, else BF). */
    static int secondHigh(int lead) {
        return lead == 0xED ? 0x9F : lead == 0xF4 ? 0x8F : 0xBF;
    }
}
