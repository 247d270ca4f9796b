package dev.skipper.core.text;

import java.util.List;

/**
 * Finds stop strings in streamed text and decides what may be emitted now.
 *
 * <p>Text arrives in pieces (one decoded token at a time) and a stop string may span several of
 * them, so {@link #feed(String)} holds back the longest tail of the text that could still be the
 * start of a stop string and emits the rest. When a stop string is complete, the text before it is
 * emitted and the stop string and everything after it are dropped. If several stop strings are
 * complete at once, the one that starts earliest wins (it ends the text soonest).
 *
 * <p>Matching is exact on UTF-16 code units: case-sensitive, no Unicode normalisation (an "é" typed
 * as one code point does not match "e" plus a combining accent). A well-formed stop string cannot
 * match half of a surrogate pair, and a high surrogate at the end of a piece is held back until
 * its partner arrives, so the emitted text never splits a code point.
 *
 * <p>One instance per request; not thread-safe.
 */
public final class StopStringMatcher {
    private final String[] stops;
    /** Text received but not emitted: a possible start of a stop string (or a lone high surrogate). */
    private final StringBuilder held = new StringBuilder();
    private String matched;

    /**
     * Creates a matcher.
     *
     * @param stops the stop strings, each non-empty; may be empty (then every piece passes through)
     */
    public StopStringMatcher(List<String> stops) {
        this.stops = stops.toArray(new String[0]);
        for (String s : this.stops) {
            if (s == null || s.isEmpty()) {
                throw new IllegalArgumentException("stop strings must be non-empty");
            }
        }
    }

    /**
     * Adds a piece of generated text.
     *
     * @param piece the text of the newest token(s)
     * @return the text that can be emitted now, possibly empty; empty once {@link #stopped()}
     */
    public String feed(String piece) {
        if (matched != null) {
            return "";
        }
        held.append(piece);
        int start = -1;
        for (String stop : stops) {
            int at = held.indexOf(stop);
            if (at >= 0 && (start < 0 || at < start)) {
                start = at;
                matched = stop;
            }
        }
        if (start >= 0) {
            String out = held.substring(0, start);
            held.setLength(0);
            return out;
        }
        int emit = held.length() - longestPossibleStart();
        if (emit > 0 && Character.isHighSurrogate(held.charAt(emit - 1))) {
            emit--; // wait for the low surrogate rather than emit half a code point
        }
        String out = held.substring(0, emit);
        held.delete(0, emit);
        return out;
    }

    /**
     * Whether a stop string has matched.
     *
     * @return true once a stop string was found; generation should end
     */
    public boolean stopped() {
        return matched != null;
    }

    /**
     * The stop string that matched.
     *
     * @return it, or {@code null} when none has
     */
    public String matchedStop() {
        return matched;
    }

    /**
     * Ends the stream: releases the held-back text, which no stop string completed.
     *
     * @return the held-back text; empty when a stop string matched or nothing is held
     */
    public String flush() {
        String out = held.toString();
        held.setLength(0);
        return out;
    }

    /** Length of the longest tail of {@link #held} that is a proper prefix of some stop string. */
    private int longestPossibleStart() {
        int n = held.length();
        int best = 0;
        for (String stop : stops) {
            for (int len = Math.min(stop.length() - 1, n); len > best; len--) {
                if (tailEquals(stop, len)) {
                    best = len;
                    break;
                }
            }
        }
        return best;
    }

    private boolean tailEquals(String stop, int len) {
        int from = held.length() - len;
        for (int i = 0; i < len; i++) {
            if (held.charAt(from + i) != stop.charAt(i)) {
                return false;
            }
        }
        return true;
    }
}
