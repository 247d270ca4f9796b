package dev.skipper.core.constrained;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonParser;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The schema compiler on documents it must accept and refuse, the keywords it must refuse, and
 * the token masks against a brute-force walk of every token.
 */
class JsonSchemaCompilerTest {
    static ByteDfa dfa(String schema) throws SchemaException {
        return JsonSchemaCompiler.compile(JsonParser.parseString(schema));
    }

    static void accepts(ByteAutomaton d, String... docs) {
        for (String doc : docs) {
            assertTrue(d.matches(doc.getBytes(StandardCharsets.UTF_8)), "should accept " + doc);
        }
    }

    static void refuses(ByteAutomaton d, String... docs) {
        for (String doc : docs) {
            assertFalse(d.matches(doc.getBytes(StandardCharsets.UTF_8)), "should refuse " + doc);
        }
    }

    @Test
    void objectsWithRequiredAndOptionalPropertiesInOrder() throws Exception {
        ByteDfa d = dfa("{\"type\":\"object\",\"properties\":{\"action\":{\"enum\":[\"go\",\"stop\"]},"
                + "\"target\":{\"type\":\"string\",\"maxLength\":8},\"speed\":{\"type\":\"number\"}},"
                + "\"required\":[\"action\"],\"additionalProperties\":false}");
        accepts(d, "{\"action\":\"go\"}", "{\"action\": \"stop\", \"target\": \"dock\"}",
                "{\"action\":\"go\",\"speed\":-1.5e3}", "{\"action\":\"go\",\"target\":\"\",\"speed\":0}",
                "{ \"action\":\"go\" }", "{\"action\":\"go\",\"target\":\"caf\u00e9 \\u00e9\\n\"}");
        refuses(d, "{}", "{\"target\":\"dock\"}", "{\"action\":\"run\"}", "{\"action\":\"go\",}",
                "{\"action\":\"go\",\"target\":\"123456789\"}", "{\"action\":\"go\",\"extra\":1}",
                "{\"target\":\"x\",\"action\":\"go\"}", "{\"action\":\"go\",\"speed\":01}",
                "{\"action\":\"go\",\"speed\":1.}", "{\"action\":\"go\"}  ", "{\"action\":\"go\",\"target\":\"a\u0001\"}",
                "{\"action\":\"go\",\"target\":\"\\x\"}");
        assertFalse(d.matches(new byte[] {'{', '"', 'a', (byte) 0xC0, (byte) 0x80, '"'}), "overlong UTF-8");
    }

    @Test
    void arraysStringsNumbersAnyOfRefs() throws Exception {
        ByteDfa d = dfa("{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":3}");
        accepts(d, "[1]", "[1, -2, 30]", "[0,0,0]");
        refuses(d, "[]", "[1,2,3,4]", "[1.5]", "[-0 ]x", "[ 1 ,2]x");
        ByteDfa any = dfa("{\"anyOf\":[{\"type\":\"null\"},{\"$ref\":\"#/$defs/point\"}],"
                + "\"$defs\":{\"point\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"number\"},"
                + "\"y\":{\"type\":\"number\"}},\"required\":[\"x\",\"y\"]}}}");
        accepts(any, "null", "{\"x\":1,\"y\":2.5}");
        refuses(any, "{\"x\":1}", "true", "{\"y\":1,\"x\":2}");
        ByteDfa types = dfa("{\"type\":[\"string\",\"boolean\"],\"minLength\":2}");
        accepts(types, "true", "\"ab\"");
        refuses(types, "\"a\"", "1");
        ByteDfa free = dfa("{}");
        accepts(free, "{\"a\":[1,{\"b\":null}],\"c\":\"d\"}", "[]", "3", "\"s\"");
        refuses(free, "{\"a\":}", "[1,]", "nul");
        ByteAutomaton obj = JsonPushdown.OBJECT;
        accepts(obj, "{}", "{\"k\": [true, false, {\"n\": -1.0e-5}]}");
        refuses(obj, "[]", "1", "{\"k\" 1}");
        ByteDfa c = dfa("{\"const\":{\"a\":[1,\"x\"]}}");
        accepts(c, "{\"a\":[1,\"x\"]}");
        refuses(c, "{\"a\": [1,\"x\"]}");
    }

    @Test
    void unsupportedSchemasAreRefusedNamingThePlace() {
        String[][] cases = {
            {"{\"type\":\"string\",\"pattern\":\"a+\"}", "pattern"},
            {"{\"type\":\"string\",\"format\":\"date-time\"}", "format"},
            {"{\"type\":\"integer\",\"minimum\":3}", "minimum"},
            {"{\"oneOf\":[{\"type\":\"null\"}]}", "oneOf"},
            {"{\"type\":\"object\",\"properties\":{\"next\":{\"$ref\":\"#/$defs/n\"}},\"$defs\":{\"n\":{\"$ref\":\"#/$defs/n\"}}}",
                "recursive"},
            {"{\"$ref\":\"https://example.com/s.json\"}", "only local references"},
            {"{\"type\":\"string\",\"maxLength\":100000}", "maxLength"},
            {"{\"type\":\"array\",\"minItems\":3,\"maxItems\":2}", "below minItems"},
            {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"frob\"}}}", "properties.a.type"},
            {"{\"type\":\"object\",\"properties\":{},\"required\":[\"zz\"]}", "not among the properties"},
            {"[1]", "must be an object"},
            {"{\"enum\":[]}", "enum"},
        };
        for (String[] c : cases) {
            SchemaException e = assertThrows(SchemaException.class, () -> dfa(c[0]), c[0]);
            assertTrue(e.getMessage().contains(c[1]), c[0] + " -> " + e.getMessage());
            assertFalse(e.getMessage().contains("\n"));
        }
    }

    @Test
    void masksEqualABruteForceWalkOfEveryToken() throws Exception {
        Random rng = new Random(7);
        List<byte[]> tokens = new ArrayList<>();
        String[] pieces = {"{", "}", "{\"", "\":", "\": \"", "\",", "\"}", " ", ",", "[", "]", "true", "false", "null",
            "0", "1", "12", "-", ".", "e", "go", "stop", "action", "\"action\"", "\u00e9", "\\", "\\n", "a", "ab", "\"",
            "target", " \"", "\"\"", "},{"};
        for (String p : pieces) {
            tokens.add(p.getBytes(StandardCharsets.UTF_8));
        }
        for (int b = 0; b < 256; b++) { // every single byte, as byte-level BPE vocabularies have
            tokens.add(new byte[] {(byte) b});
        }
        for (int i = 0; i < 300; i++) { // random byte strings, some invalid UTF-8
            byte[] b = new byte[1 + rng.nextInt(4)];
            rng.nextBytes(b);
            tokens.add(b);
        }
        tokens.add(null); // a special token
        tokens.add(new byte[0]);
        byte[][] table = tokens.toArray(byte[][]::new);
        int eos = table.length - 2;
        TokenVocabulary vocab = new TokenVocabulary(table, new int[] {eos});
        ByteDfa d = dfa("{\"type\":\"object\",\"properties\":{\"action\":{\"enum\":[\"go\",\"stop\"]},"
                + "\"target\":{\"type\":\"string\"},\"n\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}},"
                + "\"required\":[\"action\"]}");
        masksAgreeWithWalks(d, vocab, table, eos, pieces.length, rng, "{\"action\":\"go\",\"target\":\"");
        masksAgreeWithWalks(JsonPushdown.OBJECT, vocab, table, eos, pieces.length, rng, "{\"a\": [{\"b\": [[\"x");
    }

    /** Random walks where every state's mask is checked against walking each token's bytes. */
    static void masksAgreeWithWalks(ByteAutomaton d, TokenVocabulary vocab, byte[][] table, int eos, int singleBytes,
                                    Random rng, String inside) {
        TokenMasks masks = new TokenMasks(d, vocab);
        int checked = 0;
        for (int walk = 0; walk < 40; walk++) {
            int state = masks.start();
            long config = d.start();
            for (int step = 0; step < 30 && state >= 0; step++) {
                List<Integer> allowed = new ArrayList<>();
                for (int t = 0; t < table.length; t++) {
                    boolean expect = t == eos ? d.accepting(config)
                            : table[t] != null && table[t].length > 0 && d.walk(config, table[t]) != ByteAutomaton.DEAD;
                    assertEquals(expect, masks.allows(state, t), "state " + state + " token " + t);
                    if (expect) {
                        allowed.add(t);
                    }
                    checked++;
                }
                assertFalse(allowed.isEmpty(), "a live state always has a way on");
                int pick = allowed.get(rng.nextInt(allowed.size()));
                state = masks.advance(state, pick);
                if (state == TokenMasks.FINISHED) {
                    break;
                }
                config = d.walk(config, table[pick]);
                assertEquals(d.accepting(config), masks.complete(state));
            }
        }
        assertTrue(checked > 10_000, "checked " + checked);
        // apply() leaves exactly the allowed logits, unchanged, and the rest at -inf (a state with few
        // allowed tokens and one with many take different paths).
        int deep = masks.start();
        for (byte b : inside.getBytes(StandardCharsets.UTF_8)) {
            deep = masks.advance(deep, singleBytes + (b & 0xff)); // the single-byte tokens
        }
        for (int state : new int[] {masks.start(), deep}) {
            assertTrue(state >= 0);
            float[] logits = new float[table.length + 3];
            for (int t = 0; t < logits.length; t++) {
                logits[t] = rng.nextFloat() * 10 - 5;
            }
            float[] before = logits.clone();
            masks.apply(state, logits, 2);
            int allowedHere = 0;
            for (int t = 0; t < table.length; t++) {
                if (masks.allows(state, t)) {
                    assertEquals(before[t + 2], logits[t + 2], "token " + t + " kept");
                    allowedHere++;
                } else {
                    assertEquals(Float.NEGATIVE_INFINITY, logits[t + 2], "token " + t + " masked");
                }
            }
            assertEquals(before[0], logits[0]);
            assertEquals(before[1], logits[1]);
            assertEquals(before[table.length + 2], logits[table.length + 2]);
            assertTrue(allowedHere > 0);
        }
    }

    @Test
    void masksStayWithinTheirCapAndAreRecomputedTheSame() throws Exception {
        byte[][] table = new byte[257][];
        for (int b = 0; b < 256; b++) {
            table[b] = new byte[] {(byte) b};
        }
        table[256] = new byte[0];
        TokenVocabulary vocab = new TokenVocabulary(table, new int[] {256});
        ByteDfa d = dfa("{\"type\":\"string\",\"maxLength\":30}"); // a new state per character
        TokenMasks capped = new TokenMasks(d, vocab, 4);
        TokenMasks free = new TokenMasks(d, vocab);
        assertThrows(IllegalArgumentException.class, () -> new TokenMasks(d, vocab, 0));
        int a = capped.start();
        int b = free.start();
        byte[] text = ("\"" + "a".repeat(25)).getBytes(StandardCharsets.US_ASCII);
        for (int round = 0; round < 2; round++) { // the second walk revisits states whose masks were dropped
            a = capped.start();
            b = free.start();
            for (byte ch : text) {
                assertTrue(java.util.Arrays.equals(free.allowed(b), capped.allowed(a)));
                assertTrue(capped.cachedMasks() <= 4, "cached " + capped.cachedMasks());
                a = capped.advance(a, ch & 0xff);
                b = free.advance(b, ch & 0xff);
                assertTrue(a >= 0 && b >= 0);
            }
        }
        assertEquals(free.states(), capped.states(), "the states are the same; only masks are dropped");
        assertTrue(capped.computedStates() > capped.states(), "dropped masks were computed again");
        assertEquals(free.states() - 1, free.computedStates(), "without the cap each mask is computed once (the last state is never asked)");
    }
}
