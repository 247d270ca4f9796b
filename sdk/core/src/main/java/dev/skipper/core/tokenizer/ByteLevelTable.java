package dev.skipper.core.tokenizer;

import java.util.Arrays;

/**
 * GPT-2's byte-to-character table, which byte-level BPE vocabularies are written in: the printable
 * bytes {@code !..~}, {@code ¡..¬} and {@code ®..ÿ} stand for themselves, the other 68 bytes (control
 * characters, space, ...) for the characters from U+0100 on, in byte order.
 */
final class ByteLevelTable {
    private static final int[] CHAR_TO_BYTE = build();

    private ByteLevelTable() {
    }

    /** @return [char] the byte it stands for, or -1; indexed up to U+0143 */
    static int[] charToByte() {
        return CHAR_TO_BYTE;
    }

    private static int[] build() {
        int[] table = new int[256 + 68];
        Arrays.fill(table, -1);
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[printable ? b : next++] = b;
        }
        return table;
    }
}
