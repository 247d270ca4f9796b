package dev.skipper.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.skipper.api.ChatMessage;
import dev.skipper.api.ContextOverflowException;
import dev.skipper.api.EmptyPromptException;
import dev.skipper.api.SkipperException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What the commands print, against a fake engine. */
class CliOutputTest {
    private final FakeEngine fake = new FakeEngine();

    @TempDir
    Path tmp;

    @Test
    void runStreamsTextAndPrintsStatsOnStderr() {
        Cli.Result r = Cli.run(fake, "run", "--bundle", "b", "--prompt", "Capital of France?");
        assertEquals(0, r.status(), r::toString);
        assertEquals("Paris é\n", r.out());
        assertTrue(r.err().startsWith("[18 prompt + 8 generated tokens, TTFT 12.5 ms, prefill 100.0 tok/s"), r::toString);
        assertTrue(r.err().contains("max_tokens, fake]"), r::toString);
        assertEquals(List.of("generate:Capital of France?"), fake.calls);
        assertTrue(fake.closed);
    }

    @Test
    void runEndsTheLineWhenTheTextDoesNot() {
        fake.reply = "no newline";
        Cli.Result r = Cli.run(fake, "run", "--bundle", "b", "--prompt", "x");
        assertEquals("no newline\n", r.out());
    }

    @Test
    void runJsonShape() {
        Cli.Result r = Cli.run(fake, "run", "--bundle", "b", "--prompt", "abc", "--json");
        assertEquals(0, r.status(), r::toString);
        assertEquals(1, r.out().lines().count(), "one line of JSON");
        JsonObject o = JsonParser.parseString(r.out()).getAsJsonObject();
        assertEquals(Set.of("text", "prompt_tokens", "tokens", "finish_reason", "stats"), o.keySet());
        assertEquals("Paris é\n", o.get("text").getAsString());
        assertEquals(3, o.get("prompt_tokens").getAsInt());
        assertEquals(8, o.getAsJsonArray("tokens").size());
        assertEquals((int) 'P', o.getAsJsonArray("tokens").get(0).getAsInt());
        assertEquals("max_tokens", o.get("finish_reason").getAsString());
        JsonObject s = o.getAsJsonObject("stats");
        assertEquals(Set.of("prompt_tokens", "generated_tokens", "ttft_ms", "prefill_tokens_per_s",
                "decode_tokens_per_s", "speculation"), s.keySet());
        assertEquals(8, s.get("generated_tokens").getAsInt());
        assertEquals(12.5, s.get("ttft_ms").getAsDouble());
        assertTrue(s.get("decode_tokens_per_s").isJsonNull(), "NaN is written as null");
        assertTrue(r.out().chars().allMatch(c -> c < 128), "non-ASCII is escaped");
    }

    @Test
    void runJsonSchemaAndJsonObjectSetTheResponseFormat() throws IOException {
        Path schema = tmp.resolve("s.json");
        Files.writeString(schema, "{\"type\":\"object\"}");
        Cli.Result r = Cli.run(fake, "run", "--bundle", "b", "--prompt", "x", "--json-schema", schema.toString());
        assertEquals(0, r.status(), r::toString);
        assertEquals(dev.skipper.api.ResponseFormat.jsonSchema("{\"type\":\"object\"}"), fake.options.get(0).format());
        r = Cli.run(fake, "run", "--bundle", "b", "--prompt", "x", "--chat", "--json-object");
        assertEquals(0, r.status(), r::toString);
        assertEquals(dev.skipper.api.ResponseFormat.jsonObject(), fake.options.get(1).format());
        r = Cli.run(fake, "run", "--bundle", "b", "--prompt", "x");
        assertEquals(dev.skipper.api.ResponseFormat.Kind.TEXT, fake.options.get(2).format().kind());
    }

    @Test
    void runJsonSchemaFileErrorsAreOneLineNamingTheFile() throws IOException {
        Path bad = tmp.resolve("bad.json");
        Files.write(bad, new byte[] {'{', (byte) 0xff, '}'});
        Path big = tmp.resolve("big.json");
        Files.writeString(big, " ".repeat(4 * dev.skipper.core.constrained.Grammars.MAX_SCHEMA_CHARS + 1));
        String[][] cases = {
            {tmp.resolve("missing.json").toString(), "no such file"},
            {bad.toString(), "not valid UTF-8"},
            {big.toString(), "more than"},
        };
        for (String[] c : cases) {
            Cli.Result r = Cli.run(fake, "run", "--bundle", "b", "--prompt", "x", "--json-schema", c[0]);
            assertEquals(2, r.status(), r::toString);
            assertEquals(1, r.err().lines().count(), r::toString);
            assertTrue(r.err().contains(c[0]) && r.err().contains(c[1]), r::toString);
        }
        fake.failGenerate = new dev.skipper.api.InvalidSchemaException("schema.pattern: the keyword 'pattern' is not supported");
        Path ok = tmp.resolve("p.json");
        Files.writeString(ok, "{\"type\":\"string\",\"pattern\":\"a\"}");
        Cli.Result r = Cli.run(fake, "run", "--bundle", "b", "--prompt", "x", "--json-schema", ok.toString());
        assertEquals(2, r.status(), r::toString);
        assertTrue(r.err().contains(ok.toString() + ": schema.pattern"), r::toString);
        Cli.Result both = Cli.run(fake, "run", "--bundle", "b", "--prompt", "x", "--json-object", "--json-schema",
                ok.toString());
        assertEquals(2, both.status(), both::toString);
        assertTrue(both.err().contains("exclude each other"), both::toString);
    }

    @Test
    void runChatWrapsThePromptAsOneUserTurn() {
        Cli.Result r = Cli.run(fake, "run", "--bundle", "b", "--prompt", "hi", "--chat", "--system", "be brief");
        assertEquals(0, r.status(), r::toString);
        assertEquals(List.of(List.of(ChatMessage.system("be brief"), ChatMessage.user("hi"))), fake.chats);
    }

    @Test
    void runReadsThePromptFromStdin() {
        Cli.Result r = Cli.withInput(fake, "line one\nline two\n", "run", "--bundle", "b", "--prompt", "-");
        assertEquals(0, r.status(), r::toString);
        assertEquals(List.of("generate:line one\nline two"), fake.calls);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", " ", "\t \n", "\u3000"})
    void blankPromptIsOneErrorLineBeforeTheBundleIsOpened(String prompt) {
        for (boolean chat : new boolean[] {false, true}) {
            Cli.Result r = chat ? Cli.run(fake, "run", "--bundle", "b", "--prompt", prompt, "--chat")
                    : Cli.run(fake, "run", "--bundle", "b", "--prompt", prompt);
            assertEquals(2, r.status(), r::toString);
            assertEquals("error: --prompt is empty or only whitespace: give the text to generate from\n", r.err());
            assertEquals("", r.out());
            assertEquals(null, fake.config, "the engine must not be opened for a blank prompt");
        }
        Cli.Result stdin = Cli.withInput(fake, prompt + "\n", "run", "--bundle", "b", "--prompt", "-");
        assertEquals(2, stdin.status(), stdin::toString);
        assertEquals("error: the prompt read from stdin is empty or only whitespace: give the text to generate from\n",
                stdin.err());
    }

    @Test
    void emptyPromptFromTheApiIsOneErrorLine() {
        fake.failGenerate = new EmptyPromptException();
        Cli.Result r = Cli.run(fake, "run", "--bundle", "b", "--prompt", "x");
        assertEquals(2, r.status(), r::toString);
        assertTrue(r.err().startsWith("error: the prompt is empty") && r.err().indexOf('\n') == r.err().length() - 1,
                r::toString);
    }

    @Test
    void engineFailuresAreOneErrorLine() {
        fake.failOpen = new SkipperException("b: no manifest.yaml\n(export a bundle first)");
        Cli.Result r = Cli.run(fake, "run", "--bundle", "b", "--prompt", "x");
        assertEquals(2, r.status(), r::toString);
        assertEquals("error: b: no manifest.yaml (export a bundle first)\n", r.err());
        assertEquals("", r.out());
    }

    @Test
    void contextOverflowIsAnErrorLine() {
        fake.failGenerate = new ContextOverflowException(600, 512);
        Cli.Result r = Cli.run(fake, "run", "--bundle", "b", "--prompt", "x", "--json");
        assertEquals(2, r.status(), r::toString);
        assertEquals("error: prompt needs 600 tokens but the context holds 512\n", r.err());
        assertEquals("", r.out());
        assertTrue(fake.closed);
    }

    @Test
    void chatRepl() {
        Cli.Result r = Cli.withInput(fake, "hello\n\n/help\n/bogus\n/reset\nagain\n/exit\nnever sent\n",
                "chat", "--bundle", "b", "--system", "sys");
        assertEquals(0, r.status(), r::toString);
        assertEquals(List.of("chat:hello", "reset", "chat:again"), fake.calls);
        // the system turn starts the conversation, and again after /reset
        assertEquals(List.of(ChatMessage.system("sys"), ChatMessage.user("hello")), fake.chats.get(0));
        assertEquals(List.of(ChatMessage.system("sys"), ChatMessage.user("again")), fake.chats.get(1));
        assertTrue(r.out().contains("> Paris é\n"), r::toString);
        assertTrue(r.err().contains("(conversation cleared)"), r::toString);
        assertTrue(r.err().contains("unknown command /bogus"), r::toString);
    }

    @Test
    void chatMultiTurnSendsOnlyTheNewTurnAndStopsAtEndOfInput() {
        Cli.Result r = Cli.withInput(fake, "one\ntwo\n", "chat", "--bundle", "b", "--stats");
        assertEquals(0, r.status(), r::toString);
        assertEquals(List.of(List.of(ChatMessage.user("one")), List.of(ChatMessage.user("two"))), fake.chats);
        assertEquals(2, r.err().lines().filter(l -> l.startsWith("[")).count(), r::toString);
    }

    @Test
    void chatKeepsGoingAfterAContextOverflow() {
        fake.failGenerate = new ContextOverflowException(600, 512);
        Cli.Result r = Cli.withInput(fake, "one\n/exit\n", "chat", "--bundle", "b");
        assertEquals(0, r.status(), r::toString);
        assertTrue(r.err().contains("error: prompt needs 600 tokens but the context holds 512 (/reset"), r::toString);
    }

    @Test
    void scorePlainAndJson() throws IOException {
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, "some text");
        Cli.Result plain = Cli.run(fake, "score", "--bundle", "b", "--text-file", text.toString());
        assertEquals(0, plain.status(), plain::toString);
        assertEquals("tokens: 3\nperplexity: 2.7183\n", plain.out());

        Cli.Result r = Cli.run(fake, "score", "--bundle", "b", "--text-file", text.toString(), "--json");
        assertEquals(0, r.status(), r::toString);
        JsonObject o = JsonParser.parseString(r.out()).getAsJsonObject();
        assertEquals(Set.of("tokens", "argmax", "logprobs", "perplexity"), o.keySet());
        assertEquals(3, o.getAsJsonArray("tokens").size());
        assertEquals(2, o.getAsJsonArray("argmax").size());
        assertEquals(-1.5, o.getAsJsonArray("logprobs").get(1).getAsDouble());
        assertEquals(Math.E, o.get("perplexity").getAsDouble(), 1e-12);
        assertEquals(List.of("score:some text", "score:some text"), fake.calls);
    }

    @Test
    void scoreMissingFile() {
        Cli.Result r = Cli.run(fake, "score", "--bundle", "b", "--text-file", tmp.resolve("none.txt").toString());
        assertEquals(2, r.status(), r::toString);
        assertEquals("error: no such file: " + tmp.resolve("none.txt") + "\n", r.err());
    }

    @Test
    void scoreRejectsInvalidUtf8() throws IOException {
        Path text = tmp.resolve("latin1.txt");
        Files.write(text, new byte[] {'c', 'a', 'f', (byte) 0xE9});
        Cli.Result r = Cli.run(fake, "score", "--bundle", "b", "--text-file", text.toString());
        assertEquals(2, r.status(), r::toString);
        assertTrue(r.err().contains("not valid UTF-8"), r::toString);
    }

    @Test
    void benchWritesJson() throws IOException {
        Path prompts = tmp.resolve("prompts.txt");
        Files.writeString(prompts, "first\n\nsecond\n");
        Path out = tmp.resolve("out/bench.json");
        Cli.Result r = Cli.run(fake, "bench", "--bundle", "b", "--prompts", prompts.toString(), "--max-tokens", "8",
                "--warmup", "1", "--json", out.toString());
        assertEquals(0, r.status(), r::toString);
        // warm-up on the first prompt, then both prompts, each in a fresh conversation
        assertEquals(List.of("reset", "generate:first", "reset", "generate:first", "reset", "generate:second"),
                fake.calls);
        assertTrue(fake.options.stream().allMatch(o -> o.sampling().greedy() && o.maxNewTokens() == 8));
        assertTrue(r.out().contains("ar mean over 2 prompts"), r::toString);
        JsonObject o = JsonParser.parseString(Files.readString(out)).getAsJsonObject();
        assertEquals(Set.of("bundle", "backend", "threads", "max_tokens", "chat", "warmup", "repeat", "modes", "sets",
                "memory"), o.keySet());
        JsonObject mem = o.getAsJsonObject("memory");
        assertEquals(Set.of("peak_rss_bytes", "rss_bytes", "rss_anon_bytes", "rss_file_bytes", "java_heap_used_bytes",
                "java_heap_committed_bytes", "java_non_heap_committed_bytes", "java_direct_bytes", "stages_rss_bytes",
                "context_length", "weights_file_bytes", "kv_cache_bytes"), mem.keySet());
        assertEquals(Set.of("start", "engine_open", "session", "end"), mem.getAsJsonObject("stages_rss_bytes").keySet());
        assertTrue(mem.get("java_heap_committed_bytes").getAsLong() >= mem.get("java_heap_used_bytes").getAsLong());
        if (Files.exists(Path.of("/proc/self/status"))) {
            assertTrue(mem.get("peak_rss_bytes").getAsLong() >= mem.get("rss_bytes").getAsLong()
                    && mem.get("rss_bytes").getAsLong() > 10_000_000, mem.toString());
        }
        assertEquals(-1, mem.get("weights_file_bytes").getAsLong(), "the fake engine has no bundle");
        assertEquals("fake", o.get("backend").getAsString());
        assertEquals("ar", o.getAsJsonArray("modes").get(0).getAsString());
        JsonObject ar = o.getAsJsonObject("sets").getAsJsonObject("prompts").getAsJsonObject("ar");
        JsonArray rows = ar.getAsJsonArray("prompts");
        assertEquals(2, rows.size());
        assertEquals(Set.of("index", "prompt", "prompt_tokens", "generated_tokens", "ttft_ms", "prefill_tokens_per_s",
                "decode_tokens_per_s", "speculation", "finish_reason", "tokens", "same_tokens_as_first_mode"),
                rows.get(0).getAsJsonObject().keySet());
        assertTrue(rows.get(0).getAsJsonObject().get("same_tokens_as_first_mode").getAsBoolean(), "ar is the first mode");
        assertEquals("second", rows.get(1).getAsJsonObject().get("prompt").getAsString());
        JsonObject mean = ar.getAsJsonObject("mean");
        assertEquals(12.5, mean.get("ttft_ms").getAsDouble());
        assertTrue(mean.get("decode_tokens_per_s").isJsonNull());
        try (var files = Files.list(out.getParent())) { // written through a temporary file, renamed
            assertEquals(List.of(out), files.toList());
        }
    }

    @Test
    void jsonWriter() {
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("s", "q\"b\\n\n\t\u0001é😀");
        m.put("i", 3);
        m.put("d", 1.5);
        m.put("whole", 2.0);
        m.put("nan", Double.NaN);
        m.put("ints", new int[] {1, -2});
        m.put("doubles", new double[] {0.25, Double.POSITIVE_INFINITY});
        m.put("list", List.of(true, Map.of()));
        m.put("none", null);
        String compact = Json.compact(m);
        assertEquals("{\"s\":\"q\\\"b\\\\n\\n\\t\\u0001\\u00e9\\ud83d\\ude00\",\"i\":3,\"d\":1.5,\"whole\":2.0,"
                + "\"nan\":null,\"ints\":[1,-2],\"doubles\":[0.25,null],\"list\":[true,{}],\"none\":null}", compact);
        JsonObject parsed = JsonParser.parseString(Json.pretty(m)).getAsJsonObject();
        assertEquals("q\"b\\n\n\t\u0001é😀", parsed.get("s").getAsString());
        assertEquals(JsonParser.parseString(compact), parsed);
    }
}
