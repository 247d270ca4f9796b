package dev.skipper.server;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.skipper.api.GenerationOptions;
import java.nio.charset.StandardCharsets;
import java.util.Set;

/**
 * Fuzzes the request path up to generation: any bytes as a body through {@link JsonInput#parse}
 * and {@link RequestParser#parse} for both endpoints. The contract: a request, or an
 * {@link ApiException} with a declared status (400, 404) and a one-line message of bounded length.
 * Anything else (another exception, a hang, an out-of-memory) is a finding.
 *
 * <p>Seeds ({@code RequestFuzzTestInputs/}): real chat, completion and structured-output requests.
 * {@code ./skipper test} replays them; {@code ./skipper fuzz --target java-request} fuzzes.
 */
class RequestFuzzTest {
    private static final RequestParser PARSER = new RequestParser("tiny", GenerationOptions.greedy(16));
    private static final Set<Integer> DECLARED = Set.of(400, 404);

    @FuzzTest(maxDuration = "30s")
    void parserAcceptsOrRefusesAsDeclared(byte[] body) {
        String text = new String(body, StandardCharsets.UTF_8);
        for (boolean chat : new boolean[] {true, false}) {
            try {
                CompletionRequest r = PARSER.parse(JsonInput.parse(text), chat);
                if (r.options().maxNewTokens() < 1 || (chat && r.messages().isEmpty()) || (!chat && r.prompt() == null)) {
                    throw new AssertionError("an accepted request is incomplete: " + r);
                }
            } catch (ApiException e) {
                String m = e.getMessage();
                if (!DECLARED.contains(e.status()) || m == null || m.isBlank() || m.indexOf('\n') >= 0
                        || m.length() > 1000) {
                    throw new AssertionError("undeclared refusal " + e.status() + ": " + m);
                }
            }
        }
    }
}
