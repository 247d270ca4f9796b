package dev.skipper.core.constrained;

import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * A regular language over bytes: what a JSON schema compiles to before it becomes a
 * {@link ByteDfa}. Immutable trees; repetition is bounded or a star.
 */
sealed interface BytePattern {
    /** One byte from a set. @param set [4] bits 0..255 */
    record Range(long[] set) implements BytePattern {
    }

    /** Concatenation. @param parts in order */
    record Seq(List<BytePattern> parts) implements BytePattern {
    }

    /** Alternation. @param options any one of them */
    record Alt(List<BytePattern> options) implements BytePattern {
    }

    /**
     * Repetition.
     *
     * @param body the repeated pattern
     * @param min least repetitions
     * @param max most repetitions, or -1 for unbounded
     */
    record Repeat(BytePattern body, int min, int max) implements BytePattern {
    }

    /** The empty string. */
    BytePattern EMPTY = new Seq(List.of());

    static BytePattern literal(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        BytePattern[] parts = new BytePattern[b.length];
        for (int i = 0; i < b.length; i++) {
            parts[i] = range(b[i] & 0xff, b[i] & 0xff);
        }
        return new Seq(List.of(parts));
    }

    /** Bytes lo..hi inclusive. */
    static Range range(int lo, int hi) {
        long[] set = new long[4];
        for (int c = lo; c <= hi; c++) {
            set[c >> 6] |= 1L << (c & 63);
        }
        return new Range(set);
    }

    /** Any of the characters of an ASCII string. */
    static Range anyOf(String ascii) {
        long[] set = new long[4];
        for (int i = 0; i < ascii.length(); i++) {
            int c = ascii.charAt(i);
            set[c >> 6] |= 1L << (c & 63);
        }
        return new Range(set);
    }

    static BytePattern seq(BytePattern... parts) {
        return new Seq(List.of(parts));
    }

    static BytePattern alt(BytePattern... options) {
        return new Alt(List.of(options));
    }

    static BytePattern optional(BytePattern p) {
        return new Repeat(p, 0, 1);
    }

    static BytePattern repeat(BytePattern p, int min, int max) {
        return new Repeat(p, min, max);
    }
}
