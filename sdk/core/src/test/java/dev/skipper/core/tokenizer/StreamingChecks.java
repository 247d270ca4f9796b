package dev.skipper.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Runs a stream of ids through a streaming detokenizer and checks every piece it returns. */
final class StreamingChecks {
    private StreamingChecks() {
    }

    /** What a stream produced. */
    record Result(String text, int emptyPushes, int maxWindow) {
    }

    /**
     * Pushes every id, then flushes; checks that no piece has a lone surrogate and, when asked,
     * none has U+FFFD.
     *
     * @param detokenizer a fresh detokenizer
     * @param ids the stream
     * @param allowReplacement whether U+FFFD may appear (ids that encode invalid UTF-8)
     * @param what for messages
     * @return the concatenated text and statistics
     */
    static Result stream(StreamingDetokenizer detokenizer, int[] ids, boolean allowReplacement, String what) {
        StringBuilder text = new StringBuilder();
        int empty = 0;
        int maxWindow = 0;
        for (int i = 0; i < ids.length; i++) {
            String piece = detokenizer.push(ids[i]);
            check(piece, allowReplacement, what + ", push " + i + " (id " + ids[i] + ")");
            if (piece.isEmpty()) {
                empty++;
            }
            if (detokenizer instanceof IncrementalDetokenizer inc) {
                maxWindow = Math.max(maxWindow, inc.windowLength());
            }
            text.append(piece);
        }
        String rest = detokenizer.flush();
        check(rest, allowReplacement, what + ", flush");
        text.append(rest);
        return new Result(text.toString(), empty, maxWindow);
    }

    /**
     * Streams ids and asserts the text equals the tokenizer's decoding of them all.
     *
     * @param tokenizer the tokenizer
     * @param ids the stream
     * @param allowReplacement whether U+FFFD may appear
     * @param what for messages
     * @return the result
     */
    static Result assertStreamsLikeDecode(Tokenizer tokenizer, int[] ids, boolean allowReplacement, String what) {
        Result r = stream(tokenizer.newStreamingDetokenizer(), ids, allowReplacement, what);
        assertEquals(tokenizer.decode(ids), r.text(), what + ": streamed text differs from decode");
        assertTrue(r.maxWindow() <= IncrementalDetokenizer.MAX_PENDING + 4,
                what + ": window grew to " + r.maxWindow() + " tokens");
        return r;
    }

    /**
     * Fails when a piece has a lone surrogate, or U+FFFD unless allowed.
     *
     * @param piece a returned piece
     * @param allowReplacement whether U+FFFD may appear
     * @param what for messages
     */
    static void check(String piece, boolean allowReplacement, String what) {
        for (int i = 0; i < piece.length(); i++) {
            char c = piece.charAt(i);
            if (c == '\uFFFD' && !allowReplacement) {
                fail(what + ": U+FFFD in " + escape(piece));
            }
            if (Character.isHighSurrogate(c)) {
                if (i + 1 >= piece.length() || !Character.isLowSurrogate(piece.charAt(i + 1))) {
                    fail(what + ": lone high surrogate in " + escape(piece));
                }
                i++;
            } else if (Character.isLowSurrogate(c)) {
                fail(what + ": lone low surrogate in " + escape(piece));
            }
        }
    }

    static String escape(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c >= 0x20 && c < 0x7F) {
                b.append(c);
            } else {
                b.append(String.format("\\u%04X", (int) c));
            }
        }
        return b.append('"').toString();
    }
}
