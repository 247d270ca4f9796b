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

    /**
     * A value quoted in a message (a key, a name, a piece of input): control and line-separator
     * characters escaped as {@code \\uXXXX} so the message stays one line, and at most {@code max}
     * characters ({@code ...} marks a cut).
     *
     * @param value the value
     * @param max most characters, &gt;= 4
     * @return the quotable text
     */
    public static String quote(String value, int max) {
        StringBuilder sb = new StringBuilder(Math.min(value.length(), max) + 8);
        int i = 0;
        for (; i < value.length() && sb.length() <= max; i++) {
            char c = value.charAt(i);
            if (c < 0x20 || c == 0x7f || c == '\u2028' || c == '\u2029' || c == '\u0085') {
                sb.append(String.format("\\u%04x", (int) c));
            } else {
                sb.append(c);
            }
        }
        if (i == value.length() && sb.length() <= max) {
            return sb.toString();
        }
        return sb.substring(0, max - 3) + "...";
    }
}
