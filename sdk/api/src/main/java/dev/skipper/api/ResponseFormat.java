package dev.skipper.api;

import java.util.Objects;

/**
 * What shape the generated text must have. {@link #jsonObject()} and {@link #jsonSchema(String)}
 * are enforced by constrained decoding: each step only allows tokens whose bytes can continue a
 * document that is valid JSON (matching the schema), and generation ends when the document is
 * complete. docs/server.md lists the supported schema subset; an unsupported keyword makes the
 * request fail with {@link InvalidSchemaException} before any token is generated.
 *
 * @param kind which constraint
 * @param schema the JSON schema as JSON text ({@link Kind#JSON_SCHEMA} only, else {@code null})
 */
public record ResponseFormat(Kind kind, String schema) {
    /** The constraint kinds. */
    public enum Kind {
        /** Free text (no constraint). */
        TEXT,
        /** Any JSON object. */
        JSON_OBJECT,
        /** JSON matching a schema. */
        JSON_SCHEMA
    }

    /** Free text. */
    public static final ResponseFormat TEXT = new ResponseFormat(Kind.TEXT, null);

    public ResponseFormat {
        Objects.requireNonNull(kind, "kind");
        if ((kind == Kind.JSON_SCHEMA) != (schema != null)) {
            throw new IllegalArgumentException("a schema is given exactly for JSON_SCHEMA");
        }
    }

    /** @return a constraint to any JSON object */
    public static ResponseFormat jsonObject() {
        return new ResponseFormat(Kind.JSON_OBJECT, null);
    }

    /**
     * @param schema a JSON schema as JSON text
     * @return a constraint to documents matching it
     */
    public static ResponseFormat jsonSchema(String schema) {
        return new ResponseFormat(Kind.JSON_SCHEMA, Objects.requireNonNull(schema, "schema"));
    }
}
