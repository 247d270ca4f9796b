package dev.skipper.api;

/**
 * A request on an empty session whose prompt encodes to no tokens: there is nothing to continue.
 *
 * <p>Thrown by {@link Session#generate} for {@code ""} on a new session (a bundle that adds a
 * beginning-of-sequence token never sees this). Whitespace is text: {@code " "} encodes to a token
 * and is generated from. On a non-empty session an empty prompt continues the sequence.
 */
public class EmptyPromptException extends SkipperException {
    private static final long serialVersionUID = 1L;

    /** Creates the exception with its one-line message. */
    public EmptyPromptException() {
        super("the prompt is empty (it encodes to no tokens) and the session holds none: nothing to generate from");
    }
}
