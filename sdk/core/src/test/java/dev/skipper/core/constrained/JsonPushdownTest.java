package dev.skipper.core.constrained;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonParser;
import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The {@code json_object} recognizer against Gson's strict parser: every generated object (deep,
 * with escapes, UTF-8, numbers, literals) is accepted, and every accepted mutation of one parses.
 */
class JsonPushdownTest {
    private static final ByteAutomaton P = JsonPushdown.OBJECT;

    static boolean accepts(String doc) {
        return P.matches(doc.getBytes(StandardCharsets.UTF_8));
    }

    /** @return the parsed document, or null when Gson's strict reader refuses it */
    static JsonElement strict(String doc) {
        try (JsonReader r = new JsonReader(new StringReader(doc))) {
            r.setStrictness(Strictness.STRICT);
            JsonElement e = JsonParser.parseReader(r);
            return r.peek() == JsonToken.END_DOCUMENT ? e : null;
        } catch (Exception | StackOverflowError e) {
            return null;
        }
    }

    @Test
    void acceptsObjectsAtAnyDepthUpToTheBoundAndRefusesWhatIsNotJson() {
        JsonSchemaCompilerTest.accepts(P, "{}", "{ }", "{\"a\": {\"b\": {\"c\": {\"d\": {\"e\": [1, [2, [3, {}]]]}}}}}",
                "{\"k\":[true,false,null,-0.5e+10,0,12,\"\\u00e9\\n\",\"\u00e9\u4e2d\ud83d\ude00\"]}", "{\"a\":[]}",
                "{\"a\": [ ], \"b\": { }}", "{\"x\":1E3}");
        JsonSchemaCompilerTest.refuses(P, "", "[]", "1", "\"s\"", "{", "{\"a\":[}", "{\"a\":1]", "{\"a\":01}",
                "{\"a\":\"\\x\"}", "{\"a\":tru}", "{\"a\":  1}", "{\"a\":1,}", "{,}", "{\"a\"}", "{\"a\":1} ",
                " {}", "{\"a\":1}{}", "{\"a\":-}", "{\"a\":1.}", "{\"a\":1e}", "{\"a\":\"\u0001\"}", "{'a':1}",
                "{\"a\":12345678901234567890}", "{\"a\":1.e3}");
        assertTrue(!P.matches(new byte[] {'{', '"', (byte) 0xc0, (byte) 0x80, '"', ':', '1', '}'}), "overlong UTF-8");
        assertTrue(!P.matches(new byte[] {'{', '"', (byte) 0xed, (byte) 0xa0, (byte) 0x80, '"', ':', '1', '}'}),
                "a UTF-8 surrogate");
        StringBuilder deep = new StringBuilder();
        for (int i = 0; i < JsonPushdown.MAX_DEPTH - 1; i++) {
            deep.append("{\"a\":");
        }
        String atBound = deep + "[]" + "}".repeat(JsonPushdown.MAX_DEPTH - 1);
        String past = deep + "[[]]" + "}".repeat(JsonPushdown.MAX_DEPTH - 1);
        assertTrue(accepts(atBound), "depth " + JsonPushdown.MAX_DEPTH);
        assertTrue(!accepts(past), "depth " + (JsonPushdown.MAX_DEPTH + 1));
        assertTrue(strict(past) != null, "(which is JSON, only deeper than the bound)");
    }

    @Test
    void agreesWithAStrictParserOnGeneratedDocumentsAndTheirMutations() {
        Random rng = new Random(11);
        int refused = 0;
        int acceptedMutants = 0;
        for (int i = 0; i < 3000; i++) {
            StringBuilder b = new StringBuilder();
            object(b, rng, 0);
            String doc = b.toString();
            assertTrue(accepts(doc), doc);
            JsonElement parsed = strict(doc);
            assertTrue(parsed != null && parsed.isJsonObject(), doc);
            byte[] bytes = doc.getBytes(StandardCharsets.UTF_8);
            for (int m = 0; m < 4; m++) {
                byte[] mutant = mutate(bytes, rng);
                if (P.matches(mutant)) {
                    acceptedMutants++;
                    String text = new String(mutant, StandardCharsets.UTF_8);
                    JsonElement e = strict(text);
                    assertTrue(e != null && e.isJsonObject(), "accepted but not a JSON object: " + text);
                    assertTrue(StandardCharsets.UTF_8.newEncoder().canEncode(text)
                            && java.util.Arrays.equals(mutant, text.getBytes(StandardCharsets.UTF_8)),
                            "accepted invalid UTF-8");
                } else {
                    refused++;
                }
            }
        }
        assertTrue(refused > 1000 && acceptedMutants > 100, refused + " refused, " + acceptedMutants + " accepted");
    }

    @Test
    void everyPrefixOfADocumentCanStillBeCompleted() {
        Random rng = new Random(5);
        for (int i = 0; i < 300; i++) {
            StringBuilder b = new StringBuilder();
            object(b, rng, 0);
            byte[] doc = b.toString().getBytes(StandardCharsets.UTF_8);
            long c = P.start();
            for (int k = 0; k < doc.length; k++) {
                c = P.next(c, doc[k] & 0xff);
                assertTrue(c != ByteAutomaton.DEAD);
                assertEquals(k == doc.length - 1, P.accepting(c));
                assertTrue(completes(c, 400), "prefix " + new String(doc, 0, k + 1, StandardCharsets.UTF_8));
            }
            assertTrue(P.closed(c));
        }
    }

    /** Whether a greedy closer (closing quotes, digits, brackets) reaches an accepting configuration. */
    private static boolean completes(long c, int budget) {
        byte[] tries = "\"0}]:1eurlas".getBytes(StandardCharsets.UTF_8);
        for (int step = 0; step < budget; step++) {
            if (P.accepting(c)) {
                return true;
            }
            long n = ByteAutomaton.DEAD;
            for (int t = 0; t < tries.length && n == ByteAutomaton.DEAD; t++) {
                n = P.next(c, tries[t] & 0xff);
            }
            for (int x = 0x80; x <= 0xbf && n == ByteAutomaton.DEAD; x++) {
                n = P.next(c, x); // inside a UTF-8 sequence
            }
            if (n == ByteAutomaton.DEAD) {
                return false;
            }
            c = n;
        }
        return false;
    }

    private static byte[] mutate(byte[] b, Random rng) {
        byte[] alphabet = "{}[]\",: 0-.e\\ntu1".getBytes(StandardCharsets.UTF_8);
        int at = rng.nextInt(b.length);
        byte x = rng.nextInt(4) == 0 ? (byte) rng.nextInt(256) : alphabet[rng.nextInt(alphabet.length)];
        switch (rng.nextInt(3)) {
            case 0: { // delete
                byte[] r = new byte[b.length - 1];
                System.arraycopy(b, 0, r, 0, at);
                System.arraycopy(b, at + 1, r, at, b.length - at - 1);
                return r;
            }
            case 1: { // insert
                byte[] r = new byte[b.length + 1];
                System.arraycopy(b, 0, r, 0, at);
                r[at] = x;
                System.arraycopy(b, at, r, at + 1, b.length - at);
                return r;
            }
            default: {
                byte[] r = b.clone();
                r[at] = x;
                return r;
            }
        }
    }

    private static void space(StringBuilder b, Random rng) {
        if (rng.nextInt(3) == 0) {
            b.append(' ');
        }
    }

    private static void object(StringBuilder b, Random rng, int depth) {
        b.append('{');
        int n = depth > 6 ? 0 : rng.nextInt(4);
        space(b, rng);
        for (int i = 0; i < n; i++) {
            if (i > 0) {
                space(b, rng);
                b.append(',');
                space(b, rng);
            }
            string(b, rng);
            space(b, rng);
            b.append(':');
            space(b, rng);
            value(b, rng, depth + 1);
        }
        if (n > 0) {
            space(b, rng);
        }
        b.append('}');
    }

    private static void value(StringBuilder b, Random rng, int depth) {
        switch (rng.nextInt(depth > 6 ? 6 : 8)) {
            case 0 -> string(b, rng);
            case 1 -> b.append(rng.nextInt(2000) - 1000);
            case 2 -> b.append(rng.nextBoolean() ? "-" : "").append(rng.nextInt(100)).append('.').append(rng.nextInt(1000))
                    .append(rng.nextBoolean() ? "e-" + rng.nextInt(300) : "");
            case 3 -> b.append("true");
            case 4 -> b.append("false");
            case 5 -> b.append("null");
            case 6 -> object(b, rng, depth);
            default -> {
                b.append('[');
                space(b, rng);
                int n = rng.nextInt(4);
                for (int i = 0; i < n; i++) {
                    if (i > 0) {
                        space(b, rng);
                        b.append(',');
                        space(b, rng);
                    }
                    value(b, rng, depth + 1);
                }
                if (n > 0) {
                    space(b, rng);
                }
                b.append(']');
            }
        }
    }

    private static void string(StringBuilder b, Random rng) {
        String[] parts = {"a", "key", "\\\"", "\\\\", "\\n", "\\u00e9", "\u00e9", "\u4e2d", "\ud83d\ude00", " ", "/"};
        b.append('"');
        int n = rng.nextInt(4);
        for (int i = 0; i < n; i++) {
            b.append(parts[rng.nextInt(parts.length)]);
        }
        b.append('"');
    }
}
