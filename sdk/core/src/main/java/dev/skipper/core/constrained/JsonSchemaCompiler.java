package dev.skipper.core.constrained;

import static dev.skipper.core.constrained.BytePattern.alt;
import static dev.skipper.core.constrained.BytePattern.anyOf;
import static dev.skipper.core.constrained.BytePattern.literal;
import static dev.skipper.core.constrained.BytePattern.optional;
import static dev.skipper.core.constrained.BytePattern.range;
import static dev.skipper.core.constrained.BytePattern.repeat;
import static dev.skipper.core.constrained.BytePattern.seq;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Compiles the supported subset of JSON Schema into the regular language of compact JSON documents
 * that match it (one optional space after {@code :} and {@code ,}), as a {@link ByteDfa}.
 *
 * <p>Supported: {@code type} (one or a list) object / array / string / integer / number / boolean
 * / null; {@code properties} (emitted in the schema's order), {@code required},
 * {@code additionalProperties: false} (other properties are never generated either way);
 * {@code items}, {@code minItems}, {@code maxItems}; {@code enum}, {@code const};
 * {@code minLength}, {@code maxLength}; {@code anyOf}; local {@code $ref} to {@code #/$defs/...} or
 * {@code #/definitions/...} (not recursive); annotations ({@code title}, {@code description},
 * {@code $schema}, {@code $id}, {@code examples}, {@code default}, {@code $comment}) are ignored.
 * Anything else ({@code pattern}, {@code format}, {@code minimum}, {@code oneOf}, a recursive
 * reference, ...) is refused with a {@link SchemaException} naming it: the output would not be
 * guaranteed to match. A schema without {@code type} or with {@code {}} means any JSON value, nested
 * at most {@link #ANY_DEPTH} levels.
 */
public final class JsonSchemaCompiler {
    /** Nesting of a free-form value inside a schema ({@code {}}); {@code json_object} mode uses {@link JsonPushdown}. */
    public static final int ANY_DEPTH = 3;
    /** Largest maxLength / maxItems enforced by expansion. */
    public static final int MAX_BOUND = 512;
    /** Most properties of one object. */
    public static final int MAX_PROPERTIES = 64;

    private static final Set<String> ANNOTATIONS = Set.of("title", "description", "$schema", "$id", "examples",
            "default", "$comment", "$defs", "definitions");
    private static final Set<String> KEYWORDS = Set.of("type", "properties", "required", "additionalProperties",
            "items", "minItems", "maxItems", "enum", "const", "minLength", "maxLength", "anyOf", "$ref");

    /** Optional whitespace between tokens: none or one space (bounded, so a model cannot pad forever). */
    private static final BytePattern WS = optional(literal(" "));

    private final JsonObject root;
    private final Set<String> expanding = new HashSet<>();
    // A definition's pattern, built once and shared by every reference to it: a schema whose
    // definitions reference each other many times stays a small DAG (the automaton size limit
    // still applies when it is expanded).
    private final Map<String, BytePattern> expanded = new java.util.HashMap<>();

    private JsonSchemaCompiler(JsonObject root) {
        this.root = root;
    }

    /**
     * @param schema a JSON schema (an object, or {@code true})
     * @return the automaton of the documents it accepts
     * @throws SchemaException if it uses what is not supported
     */
    public static ByteDfa compile(JsonElement schema) throws SchemaException {
        JsonObject root = schema.isJsonObject() ? schema.getAsJsonObject() : null;
        if (root == null && !(schema.isJsonPrimitive() && schema.getAsJsonPrimitive().isBoolean()
                && schema.getAsBoolean())) {
            throw new SchemaException("", "must be an object");
        }
        JsonSchemaCompiler c = new JsonSchemaCompiler(root == null ? new JsonObject() : root);
        return ByteDfa.compile(c.value(c.root, ""), "the schema");
    }

    // ---- schema walk ---------------------------------------------------------------------------

    private BytePattern value(JsonObject s, String at) throws SchemaException {
        for (String k : s.keySet()) {
            if (!KEYWORDS.contains(k) && !ANNOTATIONS.contains(k)) {
                throw new SchemaException(at, "the keyword '" + clip(k) + "' is not supported");
            }
        }
        if (s.has("$ref")) {
            if (s.keySet().stream().anyMatch(k -> KEYWORDS.contains(k) && !k.equals("$ref"))) {
                throw new SchemaException(at, "$ref next to other keywords is not supported");
            }
            return ref(string(s.get("$ref"), at + ".$ref"), at);
        }
        if (s.has("const")) {
            return literal(canonical(s.get("const")));
        }
        if (s.has("enum")) {
            JsonElement e = s.get("enum");
            if (!e.isJsonArray() || e.getAsJsonArray().isEmpty()) {
                throw new SchemaException(at + ".enum", "must be a non-empty list");
            }
            List<BytePattern> options = new ArrayList<>();
            for (JsonElement v : e.getAsJsonArray()) {
                options.add(literal(canonical(v)));
            }
            return new BytePattern.Alt(options);
        }
        if (s.has("anyOf")) {
            JsonElement e = s.get("anyOf");
            if (!e.isJsonArray() || e.getAsJsonArray().isEmpty()) {
                throw new SchemaException(at + ".anyOf", "must be a non-empty list of schemas");
            }
            List<BytePattern> options = new ArrayList<>();
            JsonArray a = e.getAsJsonArray();
            for (int i = 0; i < a.size(); i++) {
                options.add(value(schemaAt(a.get(i), at + ".anyOf[" + i + "]"), at + ".anyOf[" + i + "]"));
            }
            return new BytePattern.Alt(options);
        }
        JsonElement type = s.get("type");
        if (type == null) {
            return any(ANY_DEPTH);
        }
        if (type.isJsonArray()) {
            List<BytePattern> options = new ArrayList<>();
            JsonArray a = type.getAsJsonArray();
            if (a.isEmpty()) {
                throw new SchemaException(at + ".type", "must not be an empty list");
            }
            for (int i = 0; i < a.size(); i++) {
                options.add(typed(string(a.get(i), at + ".type[" + i + "]"), s, at));
            }
            return new BytePattern.Alt(options);
        }
        return typed(string(type, at + ".type"), s, at);
    }

    private BytePattern typed(String type, JsonObject s, String at) throws SchemaException {
        return switch (type) {
            case "object" -> objectOf(s, at);
            case "array" -> arrayOf(s, at);
            case "string" -> stringOf(s, at);
            case "integer" -> integer();
            case "number" -> number();
            case "boolean" -> alt(literal("true"), literal("false"));
            case "null" -> literal("null");
            default -> throw new SchemaException(at + ".type", "unknown type '" + clip(type) + "'");
        };
    }

    private BytePattern objectOf(JsonObject s, String at) throws SchemaException {
        JsonElement extra = s.get("additionalProperties");
        if (extra != null && !(extra.isJsonPrimitive() && extra.getAsJsonPrimitive().isBoolean())) {
            throw new SchemaException(at + ".additionalProperties", "only true or false is supported");
        }
        JsonElement props = s.get("properties");
        if (props == null) {
            if (extra != null && !extra.getAsBoolean()) {
                return literal("{}");
            }
            return object(ANY_DEPTH - 1);
        }
        if (!props.isJsonObject()) {
            throw new SchemaException(at + ".properties", "must be an object");
        }
        Set<String> required = new HashSet<>();
        JsonElement req = s.get("required");
        if (req != null) {
            if (!req.isJsonArray()) {
                throw new SchemaException(at + ".required", "must be a list of names");
            }
            for (JsonElement r : req.getAsJsonArray()) {
                String name = string(r, at + ".required");
                if (!props.getAsJsonObject().has(name)) {
                    throw new SchemaException(at + ".required", "'" + clip(name) + "' is not among the properties");
                }
                required.add(name);
            }
        }
        List<Map.Entry<String, JsonElement>> list = new ArrayList<>(props.getAsJsonObject().entrySet());
        if (list.size() > MAX_PROPERTIES) {
            throw new SchemaException(at + ".properties", "at most " + MAX_PROPERTIES + " properties, got " + list.size());
        }
        int n = list.size();
        BytePattern[] member = new BytePattern[n];
        boolean[] must = new boolean[n];
        for (int i = 0; i < n; i++) {
            String name = list.get(i).getKey();
            String path = at + ".properties." + clip(name);
            member[i] = seq(literal(canonical(new com.google.gson.JsonPrimitive(name))), WS, literal(":"), WS,
                    value(schemaAt(list.get(i).getValue(), path), path));
            must[i] = required.contains(name);
        }
        // after[i]: members i.. when one was written before (each preceded by a comma);
        // first[i]: members i.. when none was written yet.
        BytePattern[] after = new BytePattern[n + 1];
        BytePattern[] first = new BytePattern[n + 1];
        after[n] = BytePattern.EMPTY;
        first[n] = BytePattern.EMPTY;
        for (int i = n - 1; i >= 0; i--) {
            BytePattern withComma = seq(WS, literal(","), WS, member[i]);
            after[i] = must[i] ? seq(withComma, after[i + 1]) : seq(optional(withComma), after[i + 1]);
            BytePattern starts = seq(member[i], after[i + 1]);
            first[i] = must[i] ? starts : alt(starts, first[i + 1]);
        }
        return seq(literal("{"), WS, first[0], WS, literal("}"));
    }

    private BytePattern arrayOf(JsonObject s, String at) throws SchemaException {
        JsonElement items = s.get("items");
        BytePattern item = items == null ? any(ANY_DEPTH - 1) : value(schemaAt(items, at + ".items"), at + ".items");
        int min = bound(s, "minItems", 0, at);
        int max = s.has("maxItems") ? bound(s, "maxItems", -1, at) : -1;
        if (max >= 0 && max < min) {
            throw new SchemaException(at, "maxItems " + max + " is below minItems " + min);
        }
        BytePattern more = seq(WS, literal(","), WS, item);
        BytePattern body;
        if (max == 0) {
            body = BytePattern.EMPTY;
        } else {
            BytePattern nonEmpty = seq(item, repeat(more, Math.max(0, min - 1), max < 0 ? -1 : max - 1));
            body = min == 0 ? optional(nonEmpty) : nonEmpty;
        }
        return seq(literal("["), WS, body, WS, literal("]"));
    }

    private BytePattern stringOf(JsonObject s, String at) throws SchemaException {
        int min = bound(s, "minLength", 0, at);
        int max = s.has("maxLength") ? bound(s, "maxLength", -1, at) : -1;
        if (max >= 0 && max < min) {
            throw new SchemaException(at, "maxLength " + max + " is below minLength " + min);
        }
        return seq(literal("\""), repeat(character(), min, max), literal("\""));
    }

    private static int bound(JsonObject s, String key, int dflt, String at) throws SchemaException {
        JsonElement e = s.get(key);
        if (e == null) {
            return dflt;
        }
        if (!(e.isJsonPrimitive() && e.getAsJsonPrimitive().isNumber())) {
            throw new SchemaException(at + "." + key, "must be a non-negative integer");
        }
        java.math.BigDecimal d = e.getAsBigDecimal();
        if (d.signum() < 0 || d.compareTo(java.math.BigDecimal.valueOf(MAX_BOUND)) > 0
                || d.stripTrailingZeros().scale() > 0) {
            throw new SchemaException(at + "." + key, "must be an integer in [0, " + MAX_BOUND + "], got " + clip(e.toString()));
        }
        return d.intValue();
    }

    private BytePattern ref(String ref, String at) throws SchemaException {
        String name;
        JsonElement defs;
        if (ref.startsWith("#/$defs/")) {
            name = ref.substring(8);
            defs = root.get("$defs");
        } else if (ref.startsWith("#/definitions/")) {
            name = ref.substring(14);
            defs = root.get("definitions");
        } else if (ref.equals("#")) {
            throw new SchemaException(at + ".$ref", "a reference to the whole schema is recursive: not supported");
        } else {
            throw new SchemaException(at + ".$ref", "only local references to #/$defs/NAME or #/definitions/NAME are "
                    + "supported, got '" + clip(ref) + "'");
        }
        if (defs == null || !defs.isJsonObject() || !defs.getAsJsonObject().has(name)) {
            throw new SchemaException(at + ".$ref", "'" + clip(ref) + "' names no definition");
        }
        BytePattern done = expanded.get(ref);
        if (done != null) {
            return done;
        }
        if (!expanding.add(ref)) {
            throw new SchemaException(at + ".$ref", "'" + clip(ref) + "' is recursive: not supported");
        }
        try {
            String where = clip(ref); // the definition's path in messages
            BytePattern pattern = value(schemaAt(defs.getAsJsonObject().get(name), where), where);
            expanded.put(ref, pattern);
            return pattern;
        } finally {
            expanding.remove(ref);
        }
    }

    private static JsonObject schemaAt(JsonElement e, String at) throws SchemaException {
        if (e.isJsonObject()) {
            return e.getAsJsonObject();
        }
        if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isBoolean() && e.getAsBoolean()) {
            return new JsonObject();
        }
        throw new SchemaException(at, "must be a schema object");
    }

    private static String string(JsonElement e, String at) throws SchemaException {
        if (!(e.isJsonPrimitive() && e.getAsJsonPrimitive().isString())) {
            throw new SchemaException(at, "must be a string");
        }
        return e.getAsString();
    }

    /** Compact JSON of a value, as the document would hold it. */
    private static String canonical(JsonElement v) {
        return new com.google.gson.GsonBuilder().disableHtmlEscaping().create().toJson(v);
    }

    private static String clip(String s) {
        return dev.skipper.api.SkipperException.quote(s, 60);
    }

    // ---- JSON lexical patterns -----------------------------------------------------------------

    /** One character of a JSON string: valid UTF-8 except '"', '\' and controls, or an escape. */
    static BytePattern character() {
        BytePattern cont = range(0x80, 0xBF);
        long[] ascii = range(0x20, 0x7F).set().clone();
        ascii['"' >> 6] &= ~(1L << ('"' & 63));
        ascii['\\' >> 6] &= ~(1L << ('\\' & 63));
        BytePattern hex = anyOf("0123456789abcdefABCDEF");
        return alt(new BytePattern.Range(ascii),
                seq(range(0xC2, 0xDF), cont),
                seq(range(0xE0, 0xE0), range(0xA0, 0xBF), cont),
                seq(alt(range(0xE1, 0xEC), range(0xEE, 0xEF)), cont, cont),
                seq(range(0xED, 0xED), range(0x80, 0x9F), cont),
                seq(range(0xF0, 0xF0), range(0x90, 0xBF), cont, cont),
                seq(range(0xF1, 0xF3), cont, cont, cont),
                seq(range(0xF4, 0xF4), range(0x80, 0x8F), cont, cont),
                seq(literal("\\"), alt(anyOf("\"\\/bfnrt"), seq(literal("u"), hex, hex, hex, hex))));
    }

    static BytePattern integer() {
        return seq(optional(literal("-")), alt(literal("0"), seq(range('1', '9'), repeat(range('0', '9'), 0, 18))));
    }

    static BytePattern number() {
        BytePattern digits = range('0', '9');
        return seq(integer(), optional(seq(literal("."), repeat(digits, 1, 17))),
                optional(seq(anyOf("eE"), optional(anyOf("+-")), repeat(digits, 1, 3))));
    }

    static BytePattern jsonString() {
        return seq(literal("\""), repeat(character(), 0, -1), literal("\""));
    }

    /** Any JSON value nested at most {@code depth} levels. */
    static BytePattern any(int depth) {
        List<BytePattern> options = new ArrayList<>(List.of(jsonString(), number(), literal("true"), literal("false"),
                literal("null")));
        if (depth > 0) {
            options.add(object(depth - 1));
            options.add(array(depth - 1));
        }
        return new BytePattern.Alt(options);
    }

    static BytePattern object(int depth) {
        BytePattern member = seq(jsonString(), WS, literal(":"), WS, any(depth));
        return seq(literal("{"), WS, optional(seq(member, repeat(seq(WS, literal(","), WS, member), 0, -1))), WS,
                literal("}"));
    }

    static BytePattern array(int depth) {
        BytePattern item = any(depth);
        return seq(literal("["), WS, optional(seq(item, repeat(seq(WS, literal(","), WS, item), 0, -1))), WS,
                literal("]"));
    }
}
