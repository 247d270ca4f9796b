package dev.skipper.core.constrained;

/**
 * A JSON schema that structured output cannot enforce: an unsupported keyword, a recursive
 * {@code $ref}, a bound past the limits. The message names the place ({@code properties.tags.items})
 * and what is wrong, in one line.
 */
public final class SchemaException extends Exception {
    private static final long serialVersionUID = 1L;

    private final String path;

    /**
     * @param path where in the schema ({@code ""} for its root)
     * @param message what is wrong
     */
    public SchemaException(String path, String message) {
        super((path.isEmpty() ? "schema" : "schema at " + path) + ": " + message);
        this.path = path;
    }

    /** @return where in the schema, {@code ""} for the root */
    public String path() {
        return path;
    }
}
