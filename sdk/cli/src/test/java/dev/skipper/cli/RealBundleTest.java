package dev.skipper.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.skipper.testing.TestData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The CLI on a real tiny bundle through the real engine ({@code -Dskipper.testData=DIR}, case
 * {@code tiny-bpe-fp32/bundle}). Missing data skips these tests, unless
 * {@code -Dskipper.requireTestData=true}: then they fail.
 */
class RealBundleTest {
    private static final String CASE = "tiny-bpe-fp32";
    private static String bundle;

    @TempDir
    Path tmp;

    /** Runs before each test, so that missing data reports every test as skipped. */
    @BeforeEach
    void findBundle() {
        bundle = TestData.bundle(CASE).toString();
    }

    private static Cli.Result cli(String... args) {
        return Cli.run(EngineOpener.SKIPPER, args);
    }

    private static JsonObject runJson(String... extra) {
        String[] base = {"run", "--bundle", bundle, "--prompt", "hello world", "--max-tokens", "8", "--json"};
        String[] args = new String[base.length + extra.length];
        System.arraycopy(base, 0, args, 0, base.length);
        System.arraycopy(extra, 0, args, base.length, extra.length);
        Cli.Result r = cli(args);
        assertEquals(0, r.status(), r::toString);
        assertEquals(1, r.out().lines().count(), r::toString);
        assertTrue(r.err().startsWith("["), r::toString);
        return JsonParser.parseString(r.out()).getAsJsonObject();
    }

    private static int[] ints(JsonArray a) {
        int[] v = new int[a.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = a.get(i).getAsInt();
        }
        return v;
    }

    @Test
    void runJsonKeys() {
        JsonObject o = runJson();
        assertEquals(Set.of("bundle", "text", "prompt_tokens", "tokens", "finish_reason", "stats"), o.keySet());
        JsonObject recipe = o.getAsJsonObject("bundle"); // which arithmetic made this output
        assertEquals(Set.of("producer", "weights", "activations", "matmul_accuracy", "exact_arithmetic"), recipe.keySet());
        assertTrue(recipe.get("producer").getAsString().startsWith("skipper_export "), recipe::toString);
        JsonObject s = o.getAsJsonObject("stats");
        assertEquals(Set.of("prompt_tokens", "generated_tokens", "ttft_ms", "prefill_tokens_per_s",
                "decode_tokens_per_s", "speculation"), s.keySet());
        assertTrue(o.get("text").isJsonPrimitive());
        assertTrue(o.get("prompt_tokens").getAsInt() > 0);
        assertEquals(o.get("prompt_tokens").getAsInt(), s.get("prompt_tokens").getAsInt());
        int generated = s.get("generated_tokens").getAsInt();
        assertTrue(generated >= 1 && generated <= 8, o::toString);
        assertEquals(generated, o.getAsJsonArray("tokens").size());
        assertTrue(Set.of("eos", "max_tokens").contains(o.get("finish_reason").getAsString()), o::toString);
        assertTrue(s.get("ttft_ms").getAsDouble() > 0);
        for (JsonElement e : o.getAsJsonArray("tokens")) {
            int id = e.getAsInt();
            assertTrue(id >= 0 && id < 512, "token id in the vocabulary: " + id);
        }
    }

    @Test
    void greedyIsReproducibleAndStreamsTheSameText() {
        JsonObject a = runJson();
        JsonObject b = runJson("--greedy");
        assertArrayEquals(ints(a.getAsJsonArray("tokens")), ints(b.getAsJsonArray("tokens")));
        Cli.Result streamed = cli("run", "--bundle", bundle, "--prompt", "hello world", "--max-tokens", "8");
        assertEquals(0, streamed.status(), streamed::toString);
        String text = a.get("text").getAsString();
        assertEquals(text.endsWith("\n") || text.isEmpty() ? text : text + "\n", streamed.out());
    }

    @Test
    void seededSamplingIsReproducible() {
        JsonObject a = runJson("--temperature", "1.5", "--top-k", "50", "--seed", "11");
        JsonObject b = runJson("--temperature", "1.5", "--top-k", "50", "--seed", "11");
        assertArrayEquals(ints(a.getAsJsonArray("tokens")), ints(b.getAsJsonArray("tokens")));
    }

    @Test
    void runChat() {
        JsonObject plain = runJson();
        JsonObject chat = runJson("--chat", "--system", "be brief");
        // the chat template wraps the prompt in role markers: more prompt tokens
        assertTrue(chat.get("prompt_tokens").getAsInt() > plain.get("prompt_tokens").getAsInt(), chat::toString);
    }

    @Test
    void scoreJson() throws IOException {
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, "The quick brown fox jumps over the lazy dog.");
        Cli.Result r = cli("score", "--bundle", bundle, "--text-file", text.toString(), "--json");
        assertEquals(0, r.status(), r::toString);
        JsonObject o = JsonParser.parseString(r.out()).getAsJsonObject();
        assertEquals(Set.of("bundle", "tokens", "argmax", "logprobs", "perplexity"), o.keySet());
        JsonObject b = o.getAsJsonObject("bundle");
        assertEquals(Path.of(bundle).toAbsolutePath().normalize(), Path.of(b.get("path").getAsString()).toAbsolutePath()
                .normalize(), "score --json names the bundle it scored with");
        assertEquals("fp32", b.get("weights").getAsString());
        int n = o.getAsJsonArray("tokens").size();
        assertTrue(n > 2);
        assertEquals(n - 1, o.getAsJsonArray("argmax").size());
        JsonArray logprobs = o.getAsJsonArray("logprobs");
        assertEquals(n - 1, logprobs.size());
        double sum = 0;
        for (JsonElement e : logprobs) {
            assertTrue(e.getAsDouble() <= 0, "a log-probability");
            sum += e.getAsDouble();
        }
        assertEquals(Math.exp(-sum / logprobs.size()), o.get("perplexity").getAsDouble(),
                1e-9 * o.get("perplexity").getAsDouble());

        Cli.Result plain = cli("score", "--bundle", bundle, "--text-file", text.toString());
        assertEquals(0, plain.status(), plain::toString);
        assertTrue(plain.out().startsWith("tokens: " + n + "\nperplexity: "), plain::toString);
    }

    @Test
    void chatRepl() {
        Cli.Result r = Cli.withInput(EngineOpener.SKIPPER, "hello\nand again\n/reset\nhi\n/exit\n",
                "chat", "--bundle", bundle, "--max-tokens", "4", "--stats");
        assertEquals(0, r.status(), r::toString);
        assertEquals(3, r.err().lines().filter(l -> l.startsWith("[")).count(), r::toString);
        assertTrue(r.err().contains("(conversation cleared)"), r::toString);
        // a prompt before each of the five input lines
        assertEquals(6, r.out().split(ChatCommand.PROMPT, -1).length, "five prompts: " + r);
    }

    @Test
    void chatWithStdinClosedEndsCleanly() {
        // No input at all (stdin at end of file: `./skipper chat < /dev/null`, a pipe closed by its
        // writer): the REPL ends at once with status 0, after one prompt, without generating.
        Cli.Result closed = Cli.withInput(EngineOpener.SKIPPER, "", "chat", "--bundle", bundle, "--max-tokens", "4");
        assertEquals(0, closed.status(), closed::toString);
        assertEquals(2, closed.out().split(ChatCommand.PROMPT, -1).length, "one prompt: " + closed);
        assertFalse(closed.err().contains("Exception"), closed::toString);
        // Input that ends mid-conversation without a newline or /exit: the last line is answered.
        Cli.Result cut = Cli.withInput(EngineOpener.SKIPPER, "hello", "chat", "--bundle", bundle, "--max-tokens", "4",
                "--stats");
        assertEquals(0, cut.status(), cut::toString);
        assertEquals(1, cut.err().lines().filter(l -> l.startsWith("[")).count(), "one answer's stats: " + cut);
    }

    @Test
    void benchJson() throws IOException {
        Path prompts = tmp.resolve("prompts.txt");
        Files.writeString(prompts, "hello world\nthe cat\n");
        Path out = tmp.resolve("bench.json");
        Cli.Result r = cli("bench", "--bundle", bundle, "--prompts", prompts.toString(), "--max-tokens", "8",
                "--modes", "ar,spec,ngram", "--json", out.toString());
        assertEquals(0, r.status(), r::toString);
        JsonObject o = JsonParser.parseString(Files.readString(out)).getAsJsonObject();
        assertEquals("cpu", o.get("backend").getAsString());
        JsonObject set = o.getAsJsonObject("sets").getAsJsonObject("prompts");
        JsonObject ar = set.getAsJsonObject("ar");
        for (String mode : new String[] {"spec", "ngram"}) { // speculative modes give ar's tokens
            assertTrue(set.getAsJsonObject(mode).getAsJsonObject("mean").get("same_tokens_as_first_mode").getAsBoolean(),
                    mode);
            assertTrue(set.getAsJsonObject(mode).getAsJsonObject("mean").has("speedup_vs_ar"), mode);
            assertEquals(0, set.getAsJsonObject(mode).getAsJsonObject("mean").get("prompts_differing_from_first_mode")
                    .getAsInt(), mode);
            for (var row : set.getAsJsonObject(mode).getAsJsonArray("prompts")) { // and say so prompt by prompt
                assertTrue(row.getAsJsonObject().get("same_tokens_as_first_mode").getAsBoolean(), mode);
            }
        }
        assertEquals(2, ar.getAsJsonArray("prompts").size());
        assertTrue(ar.getAsJsonObject("mean").get("ttft_ms").getAsDouble() > 0);
        // bench decodes greedily: the same tokens as run
        JsonObject run = runJson();
        assertArrayEquals(ints(run.getAsJsonArray("tokens")),
                ints(ar.getAsJsonArray("prompts").get(0).getAsJsonObject().getAsJsonArray("tokens")));
    }

    @Test
    void engineErrorsAreOneLine() {
        Cli.Result tooLong = cli("run", "--bundle", bundle, "--prompt", "x", "--context-length", "100000");
        assertEquals(2, tooLong.status(), tooLong::toString);
        assertTrue(tooLong.err().startsWith("error: "), tooLong::toString);
        assertEquals(1, tooLong.err().lines().count(), tooLong::toString);

        Cli.Result overflow = cli("run", "--bundle", bundle, "--prompt", "word ".repeat(200), "--context-length", "16");
        assertEquals(2, overflow.status(), overflow::toString);
        assertTrue(overflow.err().startsWith("error: prompt needs "), overflow::toString);
        assertFalse(overflow.err().strip().contains("\n"), overflow::toString);

        Cli.Result missing = cli("run", "--bundle", tmp.resolve("nothing").toString(), "--prompt", "x");
        assertEquals(2, missing.status(), missing::toString);
        assertTrue(missing.err().startsWith("error: "), missing::toString);
        assertEquals(1, missing.err().lines().count(), missing::toString);
    }

    /**
     * Accepted values at their extremes on the real engine: each run ends within a minute with
     * exit 0 or one error line (exit 2), never a native crash, an internal error or a hang.
     * {@code --threads 999} crashed ONNX Runtime in native code before threads were capped.
     */
    @Test
    void extremeAcceptedValuesEndCleanlyOnTheRealEngine() {
        String[][] cases = {
            {"--threads", "999"}, {"--threads", "1024"}, {"--max-tokens", "2147483647", "--context-length", "64"},
            {"--context-length", "1048576"}, {"--context-length", "1"}, {"--top-k", "2147483647"},
            {"--seed", "-9223372036854775808"}, {"--temperature", "1e-30"}, {"--temperature", "1e30"},
            {"--top-p", "1e-30"}, {"--min-p", "1"}, {"--repetition-penalty", "1e30"}, {"--mode", "auto"},
            {"--stop", "\u0000"}, {"--max-tokens", "1"},
        };
        for (String[] extra : cases) {
            String[] args = new String[6 + extra.length];
            System.arraycopy(new String[] {"run", "--bundle", bundle, "--prompt", "hello world", "--json"}, 0, args, 0, 6);
            System.arraycopy(extra, 0, args, 6, extra.length);
            Cli.Result r = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(60),
                    () -> cli(args), () -> "hung: " + String.join(" ", extra));
            String shown = String.join(" ", extra) + "\n" + r;
            assertTrue(r.status() == 0 || r.status() == 2, shown);
            assertFalse(r.err().contains("internal error") || r.err().contains("\tat "), shown);
            if (r.status() == 2) {
                assertTrue(r.err().startsWith("error: "), shown);
            } else {
                assertTrue(JsonParser.parseString(r.out().strip()).isJsonObject(), shown);
            }
        }
    }
}
