package dev.skipper.core.text;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StopStringMatcherTest {

    /** Feeds every piece and flushes when nothing stopped; returns everything emitted. */
    private static String run(StopStringMatcher m, String... pieces) {
        StringBuilder out = new StringBuilder();
        for (String p : pieces) {
            out.append(m.feed(p));
            if (m.stopped()) {
                return out.toString();
            }
        }
        return out.append(m.flush()).toString();
    }

    @Test
    void noStopsPassesEverythingThrough() {
        StopStringMatcher m = new StopStringMatcher(List.of());
        assertEquals("Hello", m.feed("Hello"));
        assertEquals(" world", m.feed(" world"));
        assertEquals("", m.flush());
        assertFalse(m.stopped());
    }

    @Test
    void holdsBackOnlyWhatCouldStartAStop() {
        StopStringMatcher m = new StopStringMatcher(List.of("</s>"));
        assertEquals("Hello ", m.feed("Hello <"));
        assertEquals("", m.feed("/"));
        assertEquals("</x", m.feed("x")); // the held "</" turned out not to be a stop
        assertEquals("", m.feed("</s"));
        assertEquals("", m.feed("> trailing"));
        assertTrue(m.stopped());
        assertEquals("</s>", m.matchedStop());
        assertEquals("", m.flush());
        assertEquals("", m.feed("more"));
    }

    @Test
    void stopSplitOverThreePieces() {
        StopStringMatcher m = new StopStringMatcher(List.of("###END"));
        assertEquals("answer ", m.feed("answer ##"));
        assertEquals("", m.feed("#E"));
        assertEquals("", m.feed("ND and more"));
        assertTrue(m.stopped());
        assertEquals("answer ", run(new StopStringMatcher(List.of("###END")), "answer ##", "#E", "ND!"));
    }

    @Test
    void overlappingPrefixesStopAtTheShorterAsSoonAsItIsComplete() {
        StopStringMatcher m = new StopStringMatcher(List.of("abc", "ab"));
        assertEquals("x", m.feed("xa"));
        assertEquals("", m.feed("b"));
        assertTrue(m.stopped());
        assertEquals("ab", m.matchedStop());
        // Only "abc" as stop: "ab" is held until the next piece decides.
        StopStringMatcher n = new StopStringMatcher(List.of("abc"));
        assertEquals("x", n.feed("xab"));
        assertEquals("abd", n.feed("d"));
        assertFalse(n.stopped());
    }

    @Test
    void partialMatchThatRestartsInsideItself() {
        // "aab" inside "aaab": after "aa" the next "a" breaks that start but the tail "aa" still counts.
        assertEquals("a", run(new StopStringMatcher(List.of("aab")), "a", "a", "a", "b", "c"));
        assertEquals("xaaaa", run(new StopStringMatcher(List.of("aab")), "xaa", "aa"));
    }

    @Test
    void multipleStopsEarliestStartWins() {
        StopStringMatcher m = new StopStringMatcher(List.of("STOP", "\n\n", "User:"));
        assertEquals("one\ntwo", m.feed("one\ntwo\n\nUser: hi STOP"));
        assertEquals("\n\n", m.matchedStop());
        // Across pieces: "lo w" completes first ("world" never gets the chance).
        assertEquals("Hi hel", run(new StopStringMatcher(List.of("world", "lo w")), "Hi hel", "lo wor", "ld"));
        // Both complete in the same piece: the one starting first wins.
        StopStringMatcher k = new StopStringMatcher(List.of("cd", "bcde"));
        assertEquals("a", k.feed("abcdef"));
        assertEquals("bcde", k.matchedStop());
    }

    @Test
    void flushReleasesAHeldPrefixAtTheEnd() {
        StopStringMatcher m = new StopStringMatcher(List.of("<|im_end|>"));
        assertEquals("done", m.feed("done<|im"));
        assertEquals("<|im", m.flush());
        assertFalse(m.stopped());
        assertNull(m.matchedStop());
    }

    @Test
    void unicodeStopsAndSurrogatePairsAcrossPieces() {
        String emoji = "\uD83D\uDE00"; // U+1F600, two UTF-16 units
        StopStringMatcher m = new StopStringMatcher(List.of("fin" + emoji));
        assertEquals("caf\u00e9 ", m.feed("caf\u00e9 fi"));
        assertEquals("", m.feed("n\uD83D")); // high surrogate arrives alone
        assertEquals("", m.feed("\uDE00 after"));
        assertTrue(m.stopped());

        // A high surrogate at the end of a piece is never emitted alone, stop strings or not.
        StopStringMatcher n = new StopStringMatcher(List.of("x"));
        assertEquals("a", n.feed("a\uD83D"));
        assertEquals(emoji + "b", n.feed("\uDE00b"));

        // Different emoji sharing the high surrogate: no match, all text emitted.
        StopStringMatcher p = new StopStringMatcher(List.of(emoji));
        assertEquals("\uD83D\uDE01", run(p, "\uD83D", "\uDE01"));

        // Exact code points: no normalisation, so a decomposed é does not match a composed one.
        assertEquals("cafe\u0301!", run(new StopStringMatcher(List.of("caf\u00e9")), "cafe", "\u0301!"));
        assertEquals("\u65e5\u672c", run(new StopStringMatcher(List.of("\u8a9e")), "\u65e5\u672c", "\u8a9e", "x"));
    }

    @Test
    void rejectsEmptyStops() {
        assertThrows(IllegalArgumentException.class, () -> new StopStringMatcher(List.of("a", "")));
    }

    @Test
    void matchesAnyPieceSplitLikeASearchOverTheWholeText() {
        Random rnd = new Random(9);
        List<String> stops = List.of("aba", "bb", "cab");
        for (int trial = 0; trial < 2000; trial++) {
            StringBuilder text = new StringBuilder();
            int len = 1 + rnd.nextInt(20);
            for (int i = 0; i < len; i++) {
                text.append("abcd".charAt(rnd.nextInt(4)));
            }
            List<String> pieces = new ArrayList<>();
            for (int i = 0; i < text.length(); ) {
                int n = Math.min(text.length() - i, 1 + rnd.nextInt(3));
                pieces.add(text.substring(i, i + n));
                i += n;
            }
            String expected = expectedOutput(text.toString(), pieces, stops);
            assertEquals(expected, run(new StopStringMatcher(stops), pieces.toArray(new String[0])),
                    "text " + text + " pieces " + pieces);
        }
    }

    /** Reference: after each piece, search the whole text so far; stop at the earliest match. */
    private static String expectedOutput(String text, List<String> pieces, List<String> stops) {
        int seen = 0;
        for (String p : pieces) {
            seen += p.length();
            String prefix = text.substring(0, seen);
            int best = -1;
            for (String s : stops) {
                int at = prefix.indexOf(s);
                if (at >= 0 && (best < 0 || at < best)) {
                    best = at;
                }
            }
            if (best >= 0) {
                return prefix.substring(0, best);
            }
        }
        return text;
    }
}
