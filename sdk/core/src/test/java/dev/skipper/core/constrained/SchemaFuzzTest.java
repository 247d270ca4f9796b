package dev.skipper.core.constrained;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.gson.JsonElement;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.nio.charset.StandardCharsets;

/**
 * Fuzzes the JSON-schema compiler and its token masks: any bytes as a schema. The contract: the
 * text is not JSON (Gson refuses it), or the compiler refuses it with a one-line
 * {@link SchemaException}, or it compiles and every state a walk reaches allows at least one token
 * of a byte-level vocabulary (so a constrained generation can always go on or end). Anything else
 * is a finding.
 *
 * <p>Seeds ({@code SchemaFuzzTestInputs/}): schemas of the kinds requests use. {@code ./skipper test}
 * replays them; {@code ./skipper fuzz --target java-schema} fuzzes.
 */
class SchemaFuzzTest {
    private static final TokenVocabulary VOCAB = vocabulary();

    private static TokenVocabulary vocabulary() {
        String[] pieces = {"{\"", "\":", "\",\"", "\"}", "true", "false", "null", "[]", "{}", " \"", "12", "-0.5"};
        byte[][] t = new byte[256 + pieces.length + 1][];
        for (int b = 0; b < 256; b++) {
            t[b] = new byte[] {(byte) b};
        }
        for (int i = 0; i < pieces.length; i++) {
            t[256 + i] = pieces[i].getBytes(StandardCharsets.UTF_8);
        }
        return new TokenVocabulary(t, new int[] {t.length - 1}); // the last id: end of sequence
    }

    @FuzzTest(maxDuration = "30s")
    void compilerAcceptsOrRefusesInOneLine(byte[] input) {
        JsonElement schema;
        try {
            schema = JsonParser.parseString(new String(input, StandardCharsets.UTF_8));
        } catch (JsonParseException | StackOverflowError e) {
            return; // not JSON: the server refuses it before the compiler sees it
        }
        ByteDfa dfa;
        try {
            dfa = JsonSchemaCompiler.compile(schema);
        } catch (SchemaException e) {
            String m = e.getMessage();
            if (m == null || m.indexOf('\n') >= 0 || m.length() > 2000) {
                throw new AssertionError("a refusal must be one bounded line, got: " + m);
            }
            return;
        }
        TokenMasks masks = new TokenMasks(dfa, VOCAB);
        int state = masks.start();
        for (int step = 0; step < 64 && state != TokenMasks.FINISHED; step++) {
            long[] allowed = masks.allowed(state);
            int pick = -1;
            for (int w = allowed.length - 1; w >= 0 && pick < 0; w--) { // the longest-id allowed token
                if (allowed[w] != 0) {
                    pick = (w << 6) + 63 - Long.numberOfLeadingZeros(allowed[w]);
                }
            }
            if (pick < 0) {
                throw new AssertionError("state " + state + " allows no token");
            }
            state = masks.advance(state, pick);
            if (state == -1) {
                throw new AssertionError("an allowed token left the language");
            }
        }
    }
}
