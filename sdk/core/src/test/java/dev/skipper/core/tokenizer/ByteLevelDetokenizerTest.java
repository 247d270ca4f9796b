package dev.skipper.core.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Byte-level streaming: held bytes, invalid bytes, special tokens, flush; exactness against a
 * lossy decoding of the whole byte stream, and that decoding against the Unicode Standard's own
 * example (the real tokenizer's native decode is the oracle of {@code TokenizerFuzzTest} and
 * {@code TokenizerGoldensTest}).
 */
class ByteLevelDetokenizerTest {
    private static byte[] b(int... v) {
        byte[] out = new byte[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = (byte) v[i];
        }
        return out;
    }

    @Test
    void heldTailsAreExactlyTheValidBeginningsOfACharacter() {
        assertEquals(1, ByteLevelDetokenizer.incompleteTail(b(0x41, 0xC3), 2));
        assertEquals(0, ByteLevelDetokenizer.incompleteTail(b(0xC3, 0xA9), 2));
        assertEquals(2, ByteLevelDetokenizer.incompleteTail(b(0xE0, 0xA0), 2));
        assertEquals(0, ByteLevelDetokenizer.incompleteTail(b(0xE0, 0x80), 2), "overlong: invalid already");
        assertEquals(0, ByteLevelDetokenizer.incompleteTail(b(0xED, 0xA0), 2), "a surrogate: invalid already");
        assertEquals(2, ByteLevelDetokenizer.incompleteTail(b(0xED, 0x9F), 2));
        assertEquals(3, ByteLevelDetokenizer.incompleteTail(b(0xF0, 0x90, 0x80), 3));
        assertEquals(0, ByteLevelDetokenizer.incompleteTail(b(0xF0, 0x80), 2));
        assertEquals(0, ByteLevelDetokenizer.incompleteTail(b(0xF4, 0x90), 2), "past U+10FFFF");
        assertEquals(0, ByteLevelDetokenizer.incompleteTail(b(0xF0, 0x90, 0x80, 0x80), 4));
        assertEquals(0, ByteLevelDetokenizer.incompleteTail(b(0x80, 0x80, 0x80), 3));
        assertEquals(0, ByteLevelDetokenizer.incompleteTail(b(0xC0), 1));
        assertEquals(0, ByteLevelDetokenizer.incompleteTail(b(0xF5), 1));
        assertEquals(1, ByteLevelDetokenizer.incompleteTail(b(0xE1, 0x80, 0xC3), 3), "only the last lead is held");
    }

    @Test
    void aCharacterSplitOverTokensComesOutWholeAndSpecialTokensVanish() {
        byte[] euro = "€".getBytes(StandardCharsets.UTF_8); // E2 82 AC
        byte[][] tokens = {b('a'), b(euro[0]), b(euro[1], euro[2], 'b'), null, b(0xF0, 0x9F), b(0x98, 0x80)};
        ByteLevelDetokenizer d = new ByteLevelDetokenizer(tokens, () -> { });
        assertEquals("a", d.push(0));
        assertEquals("", d.push(1));
        assertEquals("€b", d.push(2));
        assertEquals("", d.push(3), "special token");
        assertEquals("", d.push(99), "unknown id");
        assertEquals("", d.push(4));
        assertEquals("😀", d.push(5));
        assertEquals("", d.push(1));
        assertEquals("\uFFFD", d.flush(), "a cut-short end comes out as U+FFFD");
        assertEquals("a", d.push(0), "a new stream after flush");
        assertThrows(IllegalArgumentException.class, () -> d.push(-1));
    }

    @Test
    void anyByteStreamStreamsToItsWholeDecoding() {
        Random random = new Random(7);
        byte[][] tokens = new byte[300][];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = new byte[1 + random.nextInt(3)];
            for (int j = 0; j < tokens[i].length; j++) {
                // mostly UTF-8 structure bytes, so that characters are split and broken in every way
                int[] pool = {0x41, 0x20, 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80, 0xED, 0xA0, 0xFF, 0xC0};
                tokens[i][j] = (byte) pool[random.nextInt(pool.length)];
            }
        }
        for (int round = 0; round < 2000; round++) {
            int n = random.nextInt(40);
            int[] ids = new int[n];
            java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
            for (int i = 0; i < n; i++) {
                ids[i] = random.nextInt(tokens.length);
                all.writeBytes(tokens[ids[i]]);
            }
            StreamingChecks.Result r = StreamingChecks.stream(new ByteLevelDetokenizer(tokens, () -> { }), ids, true,
                    "round " + round);
            byte[] bytes = all.toByteArray();
            assertEquals(Utf8Lossy.decode(bytes, 0, bytes.length), r.text(), "round " + round);
        }
    }

    @Test
    void lossyDecodingReplacesEachMaximalSubpartOnce() {
        // The Unicode Standard 15, section 3.9, Table 3-8 (U+FFFD for maximal subparts).
        byte[] t38 = b(0x61, 0xF1, 0x80, 0x80, 0xE1, 0x80, 0xC2, 0x62, 0x80, 0x63, 0x80, 0xBF, 0x64);
        assertEquals("a\uFFFD\uFFFD\uFFFDb\uFFFDc\uFFFD\uFFFDd", Utf8Lossy.decode(t38, 0, t38.length));
        // A surrogate's beginning is two subparts (Java's own decoder makes it one).
        assertEquals("\uFFFD\uFFFDx", Utf8Lossy.decode(b(0xED, 0xA0, 'x'), 0, 3));
        assertEquals("\uFFFD\uFFFD\uFFFDx", Utf8Lossy.decode(b(0xE0, 0x80, 0x80, 'x'), 0, 4), "overlong");
        assertEquals("\uFFFD", Utf8Lossy.decode(b(0xF0, 0x9F, 0x98), 0, 3), "cut short at the end");
        assertEquals("😀é€", Utf8Lossy.decode("😀é€".getBytes(StandardCharsets.UTF_8), 0, 9));
    }

    @Test
    void gpt2sByteTableCoversEveryByteOnce() {
        int[] t = ByteLevelTable.charToByte();
        boolean[] seen = new boolean[256];
        for (int c = 0; c < t.length; c++) {
            if (t[c] >= 0) {
                assertEquals(false, seen[t[c]], "byte " + t[c] + " twice");
                seen[t[c]] = true;
            }
        }
        for (boolean s : seen) {
            assertEquals(true, s);
        }
        assertEquals(' ', t['\u0120'], "Ġ is the space");
        assertEquals('\n', t['\u010A'], "Ċ is the newline");
        assertEquals('A', t['A']);
    }
}
