package dev.skipper.core;

/**
 * Functions that Hugging Face chat templates call and Jinja lacks, registered with Jinjava by
 * {@link ChatTemplate}. Public only because Jinjava invokes them by reflection.
 */
public final class ChatTemplateFunctions {
    private ChatTemplateFunctions() {
    }

    /**
     * {@code raise_exception(message)}: aborts rendering with the template's message.
     *
     * @param message why the template refuses the conversation
     * @return never returns
     * @throws RaisedException always
     */
    public static String raiseException(String message) {
        throw new RaisedException(message);
    }

    /** Thrown by {@link #raiseException(String)}; {@link ChatTemplate} turns it into a {@code SkipperException}. */
    static final class RaisedException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        RaisedException(String message) {
            super(message);
        }
    }
}
