package dev.skipper.api;

/** A prompt (plus what is already in the session) does not fit the context; nothing is truncated. */
public class ContextOverflowException extends SkipperException {
    private static final long serialVersionUID = 1L;
    private final int tokens;
    private final int contextLength;

    /**
     * @param tokens tokens that would have to fit
     * @param contextLength the session's context length
     */
    public ContextOverflowException(int tokens, int contextLength) {
        super("prompt needs " + tokens + " tokens but the context holds " + contextLength);
        this.tokens = tokens;
        this.contextLength = contextLength;
    }

    /** @return tokens that would have to fit */
    public int tokens() {
        return tokens;
    }

    /** @return the session's context length */
    public int contextLength() {
        return contextLength;
    }
}
