package dev.skipper.server;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import com.google.gson.stream.MalformedJsonException;
import dev.skipper.api.SkipperException;
import java.io.IOException;
import java.io.StringReader;
import java.math.BigDecimal;

/**
 * Reads a request body as strict JSON (RFC 8259: no comments, no NaN, one document) into a tree,
 * with a nesting limit and duplicate keys refused, so that a request cannot be read two ways.
 * The body's size is bounded before this is called.
 */
final class JsonInput {
    /** Deepest nesting a request may have (a chat request needs 5; JSON schemas a few more). */
    static final int MAX_DEPTH = 64;

    private JsonInput() {
    }

    /**
     * @param body the request body
     * @return its JSON tree
     * @throws ApiException 400 on malformed JSON, too deep nesting or a duplicate key
     */
    static JsonElement parse(String body) throws ApiException {
        try (JsonReader r = new JsonReader(new StringReader(body))) {
            r.setStrictness(Strictness.STRICT);
            r.setNestingLimit(MAX_DEPTH);
            JsonElement e = read(r, 0);
            if (r.peek() != JsonToken.END_DOCUMENT) {
                throw ApiException.badRequest(null, "the body holds more than one JSON value");
            }
            return e;
        } catch (MalformedJsonException | IllegalStateException | NumberFormatException e) {
            throw ApiException.badRequest(null, "the body is not valid JSON: " + oneLine(e.getMessage()));
        } catch (java.io.EOFException e) {
            throw ApiException.badRequest(null, "the body is not valid JSON: it ends early");
        } catch (IOException e) {
            throw ApiException.badRequest(null, "the body is not valid JSON: " + oneLine(e.getMessage()));
        }
    }

    private static JsonElement read(JsonReader r, int depth) throws IOException, ApiException {
        if (depth > MAX_DEPTH) {
            throw ApiException.badRequest(null, "the body nests deeper than " + MAX_DEPTH + " levels");
        }
        switch (r.peek()) {
            case BEGIN_OBJECT -> {
                JsonObject o = new JsonObject();
                r.beginObject();
                while (r.hasNext()) {
                    String key = r.nextName();
                    if (o.has(key)) {
                        throw ApiException.badRequest(key, "duplicate key '" + clip(key) + "' in the body");
                    }
                    o.add(key, read(r, depth + 1));
                }
                r.endObject();
                return o;
            }
            case BEGIN_ARRAY -> {
                JsonArray a = new JsonArray();
                r.beginArray();
                while (r.hasNext()) {
                    a.add(read(r, depth + 1));
                }
                r.endArray();
                return a;
            }
            case STRING -> {
                return new JsonPrimitive(r.nextString());
            }
            case NUMBER -> {
                String n = r.nextString();
                if (n.length() > 64) {
                    throw ApiException.badRequest(null, "a number in the body has more than 64 characters");
                }
                return new JsonPrimitive(new BigDecimal(n));
            }
            case BOOLEAN -> {
                return new JsonPrimitive(r.nextBoolean());
            }
            case NULL -> {
                r.nextNull();
                return JsonNull.INSTANCE;
            }
            default -> throw ApiException.badRequest(null, "the body is not valid JSON");
        }
    }

    static String clip(String s) {
        return clip(s, 60);
    }

    /** A value quoted in a message: one line, at most {@code max} chars ({@link SkipperException#quote}). */
    static String clip(String s, int max) {
        return SkipperException.quote(s, max);
    }



    private static String oneLine(String s) {
        if (s == null) {
            return "unreadable";
        }
        String line = s.replace('\n', ' ').replace('\r', ' ');
        int hint = line.indexOf(" See https://");
        return clip(hint > 0 ? line.substring(0, hint) : line);
    }
}
