package dev.skipper.api;

/**
 * A {@link ResponseFormat} whose schema cannot be enforced (unsupported keyword, recursive
 * reference, a bound past the limits, malformed JSON). The message names the place in the schema.
 */
public class InvalidSchemaException extends SkipperException {
    private static final long serialVersionUID = 1L;

    /** @param message one line naming the place and the problem */
    public InvalidSchemaException(String message) {
        super(message);
    }
}
