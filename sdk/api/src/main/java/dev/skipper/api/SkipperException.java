package dev.skipper.api;

/**
 * Base class of the checked exceptions thrown by the Skipper SDK.
 *
 * <p>The message is meant for people: one line that says what is wrong and where.
 */
public class SkipperException extends Exception {
    private static final long serialVersionUID = 1L;

    /**
     * Creates an exception with a one-line message.
     *
     * @param message what went wrong, for people
     */
    public SkipperException(String message) {
        super(message);
    }

    /**
     * Creates an exception with a one-line message and the exception that caused it.
     *
     * @param message what went wrong, for people
     * @param cause the underlying exception, or {@code null}
     */
    public SkipperException(String message, Throwable cause) {
        super(message, cause);
    }

    /**
     * A message from elsewhere (a native library, a parser, another exception) on one line: line
     * breaks and the blanks around them become one space, leading and trailing blanks go.
     *
     * @param message the message, or {@code null}
     * @return it on one line; {@code ""} for {@code null}
     */
    public static String oneLine(String message) {
        return message == null ? "" : message.strip().replaceAll("\\s*\\R\\s*", " ");
    }
}
