package dev.skipper.core.constrained;

/**
 * A recognizer over bytes whose configurations fit in a {@code long}: a {@link ByteDfa}'s state,
 * or a {@link JsonPushdown}'s lexical state with its stack of open containers. Every configuration
 * {@link #next} returns can still reach an accepting one, so a generator that follows it can
 * always finish a valid document. Implementations are immutable and thread-safe.
 */
public interface ByteAutomaton {
    /** What {@link #next} returns for a byte that leaves the language. */
    long DEAD = -1;

    /** @return the configuration before any byte */
    long start();

    /**
     * @param config a live configuration
     * @param b a byte (0..255)
     * @return the configuration after it, or {@link #DEAD}
     */
    long next(long config, int b);

    /** @param config a live configuration @return whether the bytes so far form a whole document */
    boolean accepting(long config);

    /** @param config a live configuration @return whether it is accepting and no byte may follow */
    boolean closed(long config);

    /**
     * @param config a live configuration
     * @param bytes bytes to feed
     * @return the configuration after all of them, or {@link #DEAD}
     */
    default long walk(long config, byte[] bytes) {
        long c = config;
        for (int i = 0; i < bytes.length && c != DEAD; i++) {
            c = next(c, bytes[i] & 0xff);
        }
        return c;
    }

    /** @param bytes a candidate document @return whether it is in the language */
    default boolean matches(byte[] bytes) {
        long c = walk(start(), bytes);
        return c != DEAD && accepting(c);
    }
}
