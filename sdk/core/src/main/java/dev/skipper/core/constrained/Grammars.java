package dev.skipper.core.constrained;

import com.google.gson.JsonElement;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dev.skipper.api.InvalidSchemaException;
import dev.skipper.api.ResponseFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An engine's compiled response formats: schema text to automaton, with the most recently used
 * {@link #CAPACITY} kept (compiling a schema takes milliseconds to a second; a server sees the
 * same few schemas again and again). Thread-safe.
 */
public final class Grammars {
    /** Automata kept. */
    public static final int CAPACITY = 32;
    /** Longest schema text accepted. */
    public static final int MAX_SCHEMA_CHARS = 256 * 1024;

    private final Map<String, ByteAutomaton> cache = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, ByteAutomaton> eldest) {
            return size() > CAPACITY;
        }
    };

    /**
     * @param format a JSON format ({@link ResponseFormat.Kind#JSON_OBJECT} or {@code JSON_SCHEMA})
     * @return its automaton
     * @throws InvalidSchemaException if the schema is malformed or not supported
     */
    public ByteAutomaton compile(ResponseFormat format) throws InvalidSchemaException {
        try {
            if (format.kind() == ResponseFormat.Kind.JSON_OBJECT) {
                return JsonPushdown.OBJECT;
            }
            String text = format.schema();
            if (text.length() > MAX_SCHEMA_CHARS) {
                throw new InvalidSchemaException("schema: " + text.length() + " characters, more than "
                        + MAX_SCHEMA_CHARS);
            }
            synchronized (this) {
                ByteAutomaton d = cache.get(text);
                if (d != null) {
                    return d;
                }
            }
            JsonElement schema;
            try {
                schema = JsonParser.parseString(text);
            } catch (JsonParseException e) {
                throw new InvalidSchemaException("schema: not valid JSON");
            }
            ByteDfa d = JsonSchemaCompiler.compile(schema);
            synchronized (this) {
                cache.put(text, d);
            }
            return d;
        } catch (SchemaException e) {
            throw new InvalidSchemaException(e.getMessage());
        }
    }
}
