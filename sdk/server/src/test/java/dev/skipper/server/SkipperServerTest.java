package dev.skipper.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.skipper.api.ChatMessage;
import dev.skipper.api.Engine;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.SamplingOptions;
import dev.skipper.api.Session;
import dev.skipper.core.Skipper;
import dev.skipper.testing.TestData;
import dev.skipper.runtime.spi.BackendOptions;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The server end to end on a tiny exported model over real HTTP: OpenAI shapes (plain and
 * streamed), identity with the Java API, the declared errors, the API key, the queue's 429, a
 * disconnect that cancels, concurrent clients without cross-talk, and a graceful close.
 */
class SkipperServerTest {
    static final String MODEL = "tiny";
    /** Greedy, no EOS stop: every answer runs to max_tokens, so lengths are known. */
    static final GenerationOptions DEFAULTS = new GenerationOptions(24, SamplingOptions.GREEDY, List.of(), false);

    static Engine engine;
    static SkipperServer server;
    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @BeforeAll
    static void open() throws Exception {
        engine = Skipper.open(TestData.bundle("tiny-bpe-fp32"), BackendOptions.DEFAULTS, List.of("cpu"), 512);
        server = SkipperServer.start(engine, ServerOptions.loopback(MODEL, DEFAULTS).withPort(0).withPool(2, 16));
    }

    @AfterAll
    static void close() {
        if (server != null) {
            server.close();
        }
        if (engine != null) {
            engine.close();
        }
    }

    static HttpResponse<String> post(SkipperServer s, String path, String body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(s.uri().resolve(path)).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> get(SkipperServer s, String path, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(s.uri().resolve(path)).timeout(Duration.ofSeconds(30)).GET();
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static JsonObject json(HttpResponse<String> r) {
        return JsonParser.parseString(r.body()).getAsJsonObject();
    }

    static String chatBody(String user, int maxTokens, boolean stream) {
        JsonObject o = new JsonObject();
        o.addProperty("model", MODEL);
        JsonArray msgs = new JsonArray();
        JsonObject m = new JsonObject();
        m.addProperty("role", "user");
        m.addProperty("content", user);
        msgs.add(m);
        o.add("messages", msgs);
        o.addProperty("max_tokens", maxTokens);
        o.addProperty("temperature", 0);
        if (stream) {
            o.addProperty("stream", true);
            JsonObject so = new JsonObject();
            so.addProperty("include_usage", true);
            o.add("stream_options", so);
        }
        return o.toString();
    }

    /** What the Java API gives for the same request on a fresh session. */
    static GenerationResult direct(String user, int maxTokens) throws Exception {
        try (Session s = engine.newSession()) {
            return s.chat(List.of(ChatMessage.user(user)), new GenerationOptions(maxTokens, SamplingOptions.GREEDY,
                    List.of(), false), null);
        }
    }

    /** data: payloads of an event stream, [DONE] included. */
    static List<String> events(String body) {
        List<String> out = new ArrayList<>();
        for (String block : body.split("\n\n")) {
            if (block.startsWith("data: ")) {
                out.add(block.substring(6));
            } else {
                assertTrue(block.isBlank(), "unexpected stream block: " + block);
            }
        }
        return out;
    }

    static void assertError(HttpResponse<String> r, int status, String param) {
        assertEquals(status, r.statusCode(), r.body());
        JsonObject err = json(r).getAsJsonObject("error");
        assertNotNull(err, r.body());
        assertFalse(err.get("message").getAsString().isBlank());
        assertTrue(err.has("type") && err.has("param") && err.has("code"), r.body());
        if (param != null) {
            assertEquals(param, err.get("param").getAsString(), r.body());
        }
        assertFalse(r.body().contains("\tat "), "a stack trace reached the client: " + r.body());
    }

    @Test
    void chatCompletionMatchesTheJavaApiAndHasOpenAisShape() throws Exception {
        HttpResponse<String> r = post(server, "/v1/chat/completions", chatBody("Hello there", 16, false));
        assertEquals(200, r.statusCode(), r.body());
        JsonObject o = json(r);
        assertEquals("chat.completion", o.get("object").getAsString());
        assertTrue(o.get("id").getAsString().startsWith("chatcmpl-"));
        assertEquals(MODEL, o.get("model").getAsString());
        JsonObject choice = o.getAsJsonArray("choices").get(0).getAsJsonObject();
        assertEquals("assistant", choice.getAsJsonObject("message").get("role").getAsString());
        assertEquals("length", choice.get("finish_reason").getAsString());
        GenerationResult expected = direct("Hello there", 16);
        assertEquals(expected.text(), choice.getAsJsonObject("message").get("content").getAsString());
        JsonObject usage = o.getAsJsonObject("usage");
        assertEquals(16, usage.get("completion_tokens").getAsInt());
        assertEquals(usage.get("prompt_tokens").getAsInt() + 16, usage.get("total_tokens").getAsInt());
        assertEquals("max_tokens", o.getAsJsonObject("skipper").get("finish").getAsString());
    }

    @Test
    void streamedDeltasJoinToTheSameAnswerAndEndWithUsageAndDone() throws Exception {
        HttpResponse<String> r = post(server, "/v1/chat/completions", chatBody("Tell me a story", 20, true));
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("text/event-stream"));
        List<String> ev = events(r.body());
        assertEquals("[DONE]", ev.get(ev.size() - 1));
        StringBuilder text = new StringBuilder();
        String finish = null;
        JsonObject usage = null;
        for (String e : ev.subList(0, ev.size() - 1)) {
            JsonObject c = JsonParser.parseString(e).getAsJsonObject();
            assertEquals("chat.completion.chunk", c.get("object").getAsString());
            JsonArray choices = c.getAsJsonArray("choices");
            if (choices.isEmpty()) {
                usage = c.getAsJsonObject("usage");
                continue;
            }
            JsonObject ch = choices.get(0).getAsJsonObject();
            JsonObject delta = ch.getAsJsonObject("delta");
            if (delta.has("content")) {
                text.append(delta.get("content").getAsString());
            }
            if (!ch.get("finish_reason").isJsonNull()) {
                finish = ch.get("finish_reason").getAsString();
            }
        }
        assertEquals(direct("Tell me a story", 20).text(), text.toString());
        assertEquals("length", finish);
        assertNotNull(usage, "include_usage asked for a usage chunk");
        assertEquals(20, usage.get("completion_tokens").getAsInt());
    }

    @Test
    void textCompletionsAndModelsAndHealthAndMetrics() throws Exception {
        HttpResponse<String> r = post(server, "/v1/completions",
                "{\"model\":\"tiny\",\"prompt\":\"Once upon a time\",\"max_tokens\":8,\"temperature\":0}");
        assertEquals(200, r.statusCode(), r.body());
        JsonObject o = json(r);
        assertEquals("text_completion", o.get("object").getAsString());
        String text = o.getAsJsonArray("choices").get(0).getAsJsonObject().get("text").getAsString();
        try (Session s = engine.newSession()) {
            assertEquals(s.generate("Once upon a time", new GenerationOptions(8, SamplingOptions.GREEDY, List.of(),
                    false), null).text(), text);
        }
        JsonObject models = json(get(server, "/v1/models"));
        assertEquals("list", models.get("object").getAsString());
        assertEquals(MODEL, models.getAsJsonArray("data").get(0).getAsJsonObject().get("id").getAsString());
        assertEquals(200, get(server, "/v1/models/tiny").statusCode());
        assertError(get(server, "/v1/models/other"), 404, "model");
        assertEquals("ok", json(get(server, "/health")).get("status").getAsString());
        String metrics = get(server, "/metrics").body();
        assertTrue(metrics.contains("# TYPE skipper_time_to_first_token_seconds histogram"), metrics);
        assertTrue(Pattern.compile("skipper_requests_total\\{endpoint=\"/v1/completions\",status=\"200\"} [1-9]")
                .matcher(metrics).find(), metrics);
        assertTrue(metrics.contains("skipper_queue_depth 0"), metrics);
    }

    @Test
    void declaredErrorsNameTheirField() throws Exception {
        assertError(post(server, "/v1/chat/completions", "{\"messages\": [}"), 400, null);
        assertError(post(server, "/v1/chat/completions", "[1, 2]"), 400, null);
        assertError(post(server, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                + "\"n\":2}"), 400, "n");
        assertError(post(server, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                + "\"frobnicate\":1}"), 400, "frobnicate");
        assertError(post(server, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                + "\"max_tokens\":1,\"max_tokens\":2}"), 400, "max_tokens");
        assertError(post(server, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                + "\"temperature\":7}"), 400, "temperature");
        assertError(post(server, "/v1/chat/completions", "{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}"),
                400, "messages[0].role");
        assertError(post(server, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                + "\"model\":\"gpt-4\"}"), 404, "model");
        assertError(post(server, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                + "\"response_format\":{\"type\":\"json_schema\"}}"), 400, "response_format.json_schema");
        assertError(post(server, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                + "\"response_format\":{\"type\":\"yaml\"}}"), 400, "response_format.type");
        HttpResponse<String> badSchema = post(server, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\","
                + "\"content\":\"x\"}],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"s\","
                + "\"schema\":{\"type\":\"string\",\"pattern\":\"a+\"}}}}");
        assertError(badSchema, 400, "response_format.json_schema.schema");
        assertTrue(badSchema.body().contains("pattern"), badSchema.body());
        assertError(post(server, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                + "\"max_tokens\":1e400}"), 400, "max_tokens");
        assertError(post(server, "/v1/chat/completions", "[".repeat(200) + "]".repeat(200)), 400, null);
        // Prompt over the context: both numbers in the message.
        HttpResponse<String> big = post(server, "/v1/completions", "{\"prompt\":\"" + "word ".repeat(2000) + "\"}");
        assertError(big, 400, "prompt");
        Matcher m = Pattern.compile("has (\\d+) tokens, more than the model's context of 512").matcher(big.body());
        assertTrue(m.find(), big.body());
        // Over the limit, sent at once: read and dropped before the 413, so the client is not reset mid-send
        // and sees the answer (several times: a reset was a race).
        for (int i = 0; i < 4; i++) {
            assertError(post(server, "/v1/completions", "{\"prompt\":\"" + "x".repeat(2 << 20) + "\"}"), 413, null);
        }
        // A client that waits for 100-continue gets the 413 before it sends its 4 MiB (under the 16 MiB the
        // server would otherwise read and drop; raw socket: the JDK 17 client waits forever for a 100 that a
        // final answer replaces).
        try (Socket sock = new Socket("127.0.0.1", server.port())) {
            sock.setSoTimeout(30_000);
            OutputStream out = sock.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + (4 << 20) + "\r\nExpect: 100-continue\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            String status = new BufferedReader(new InputStreamReader(sock.getInputStream(), StandardCharsets.US_ASCII))
                    .readLine();
            assertEquals("HTTP/1.1 413 Payload Too Large", status);
        }
        assertError(get(server, "/v1/chat/completions"), 405, null);
        assertError(get(server, "/nowhere"), 404, null);
        HttpResponse<String> wrongType = HTTP.send(HttpRequest.newBuilder(server.uri().resolve("/v1/completions"))
                .header("Content-Type", "text/plain").POST(HttpRequest.BodyPublishers.ofString("{}")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertError(wrongType, 415, null);
        // The server still serves after all of that.
        assertEquals(200, post(server, "/v1/chat/completions", chatBody("still there?", 2, false)).statusCode());
    }

    @Test
    void anApiKeyIsRequiredWhenSetAndANonLoopbackBindNeedsOne() throws Exception {
        // A non-loopback bind with a key (reached here over loopback, as any address of the host).
        ServerOptions keyed = ServerOptions.loopback(MODEL, DEFAULTS).withPort(0).withBind("0.0.0.0", "s3cret", false);
        try (SkipperServer s = SkipperServer.start(engine, keyed)) {
            String base = "http://127.0.0.1:" + s.port();
            java.util.function.BiFunction<String, String, HttpResponse<String>> call = (path, auth) -> {
                try {
                    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).GET();
                    if (auth != null) {
                        b.header("Authorization", auth);
                    }
                    return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
            };
            assertError(call.apply("/v1/models", null), 401, null);
            assertError(call.apply("/v1/models", "Bearer wrong"), 401, null);
            assertError(call.apply("/v1/models", "Bearer s3cret2"), 401, null);
            assertEquals(200, call.apply("/v1/models", "Bearer s3cret").statusCode());
            assertEquals(200, call.apply("/health", null).statusCode()); // liveness stays open
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SkipperServer.start(engine,
                ServerOptions.loopback(MODEL, DEFAULTS).withPort(0).withBind("0.0.0.0", null, false)));
        assertTrue(e.getMessage().contains("0.0.0.0") && e.getMessage().contains("--insecure"), e.getMessage());
    }

    @Test
    void aFullQueueGets429WithRetryAfter() throws Exception {
        ServerOptions one = ServerOptions.loopback(MODEL, DEFAULTS).withPort(0).withPool(1, 0);
        try (SkipperServer s = SkipperServer.start(new SlowEngine(engine, 5), one)) {
            CompletableFuture<HttpResponse<String>> longOne = HTTP.sendAsync(HttpRequest.newBuilder(
                    s.uri().resolve("/v1/chat/completions")).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(chatBody("a long one", 480, false))).build(),
                    HttpResponse.BodyHandlers.ofString());
            awaitMetric(s, "skipper_sessions_busy 1");
            HttpResponse<String> refused = post(s, "/v1/chat/completions", chatBody("me too", 2, false));
            assertFalse(longOne.isDone(), "480 tokens at >= 5 ms each are still running");
            assertError(refused, 429, null);
            assertEquals("1", refused.headers().firstValue("retry-after").orElse(null));
            assertEquals(200, longOne.get().statusCode());
        }
    }

    @Test
    void aNonStreamingClientThatDisconnectsCancelsItsGeneration() throws Exception {
        ServerOptions one = ServerOptions.loopback(MODEL, DEFAULTS).withPort(0).withPool(1, 4);
        try (SkipperServer s = SkipperServer.start(new SlowEngine(engine, 5), one)) {
            try (Socket sock = new Socket("127.0.0.1", s.port())) {
                postRaw(sock, chatBody("go on and on", 480, false));
                awaitMetric(s, "skipper_sessions_busy 1");
                Thread.sleep(100);
            } // closed with no answer read
            awaitMetric(s, "skipper_sessions_busy 0");
            String metrics = get(s, "/metrics").body();
            Matcher m = Pattern.compile("skipper_completion_tokens_total (\\d+)").matcher(metrics);
            assertTrue(m.find(), metrics);
            int generated = Integer.parseInt(m.group(1));
            assertTrue(generated < 150, "cancelled soon after the close, not after " + generated + " tokens");
            assertTrue(metrics.contains("skipper_cancelled_total 1"), metrics);
            assertEquals(200, post(s, "/v1/chat/completions", chatBody("hi", 2, false)).statusCode());
        }
    }

    @Test
    void aClientThatDisconnectsCancelsItsGeneration() throws Exception {
        ServerOptions one = ServerOptions.loopback(MODEL, DEFAULTS).withPort(0).withPool(1, 4);
        try (SkipperServer s = SkipperServer.start(new SlowEngine(engine, 5), one)) {
            try (Socket sock = new Socket("127.0.0.1", s.port())) {
                postRaw(sock, chatBody("go on and on", 480, true));
                BufferedReader in = new BufferedReader(new InputStreamReader(sock.getInputStream(),
                        StandardCharsets.UTF_8));
                int events = 0;
                String line;
                while (events < 3 && (line = in.readLine()) != null) {
                    if (line.startsWith("data: ")) {
                        events++;
                    }
                }
                assertEquals(3, events);
            } // closed: the next write fails and cancels
            awaitMetric(s, "skipper_sessions_busy 0");
            String metrics = get(s, "/metrics").body();
            Matcher m = Pattern.compile("skipper_completion_tokens_total (\\d+)").matcher(metrics);
            assertTrue(m.find(), metrics);
            int generated = Integer.parseInt(m.group(1));
            assertTrue(generated < 100, "cancelled within a few steps of the close, not after " + generated);
            assertTrue(metrics.contains("skipper_cancelled_total 1"), metrics);
            // And the session serves the next request normally.
            assertEquals(200, post(s, "/v1/chat/completions", chatBody("hi", 2, false)).statusCode());
        }
    }

    @Test
    void concurrentClientsGetWhatTheyWouldGetAlone() throws Exception {
        List<String> prompts = List.of("alpha", "beta gamma", "delta", "epsilon zeta eta", "theta", "iota kappa",
                "lambda", "mu nu xi", "omicron", "pi rho", "sigma", "tau upsilon phi", "chi", "psi omega", "one", "two");
        List<String> alone = new ArrayList<>();
        for (String p : prompts) {
            alone.add(direct(p, 12).text());
        }
        ExecutorService pool = Executors.newFixedThreadPool(16);
        try {
            List<Future<HttpResponse<String>>> futures = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) {
                String body = chatBody(prompts.get(i), 12, i % 2 == 1);
                futures.add(pool.submit(() -> post(server, "/v1/chat/completions", body)));
            }
            for (int i = 0; i < prompts.size(); i++) {
                HttpResponse<String> r = futures.get(i).get();
                assertEquals(200, r.statusCode(), r.body());
                String text;
                if (i % 2 == 1) {
                    StringBuilder sb = new StringBuilder();
                    for (String e : events(r.body())) {
                        if (e.equals("[DONE]")) {
                            continue;
                        }
                        JsonArray ch = JsonParser.parseString(e).getAsJsonObject().getAsJsonArray("choices");
                        if (!ch.isEmpty() && ch.get(0).getAsJsonObject().getAsJsonObject("delta").has("content")) {
                            sb.append(ch.get(0).getAsJsonObject().getAsJsonObject("delta").get("content").getAsString());
                        }
                    }
                    text = sb.toString();
                } else {
                    text = json(r).getAsJsonArray("choices").get(0).getAsJsonObject().getAsJsonObject("message")
                            .get("content").getAsString();
                }
                assertEquals(alone.get(i), text, "prompt " + prompts.get(i));
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aMultiTurnChatReusesItsCachedPrefix() throws Exception {
        String first = chatBody("Remember the number seven", 8, false);
        JsonObject a = json(post(server, "/v1/chat/completions", first));
        String reply = a.getAsJsonArray("choices").get(0).getAsJsonObject().getAsJsonObject("message").get("content")
                .getAsString();
        JsonObject second = JsonParser.parseString(first).getAsJsonObject();
        JsonArray msgs = second.getAsJsonArray("messages");
        JsonObject asst = new JsonObject();
        asst.addProperty("role", "assistant");
        asst.addProperty("content", reply);
        msgs.add(asst);
        JsonObject user = new JsonObject();
        user.addProperty("role", "user");
        user.addProperty("content", "Which number?");
        msgs.add(user);
        JsonObject b = json(post(server, "/v1/chat/completions", second.toString()));
        String text = b.getAsJsonArray("choices").get(0).getAsJsonObject().getAsJsonObject("message").get("content")
                .getAsString();
        try (Session s = engine.newSession()) {
            List<ChatMessage> conv = List.of(ChatMessage.user("Remember the number seven"),
                    new ChatMessage("assistant", reply), ChatMessage.user("Which number?"));
            assertEquals(s.reply(conv, new GenerationOptions(8, SamplingOptions.GREEDY, List.of(), false), null).text(),
                    text);
        }
    }

    @Test
    void closeLetsARunningStreamFinishAndRefusesNewRequests() throws Exception {
        ServerOptions opts = ServerOptions.loopback(MODEL, DEFAULTS).withPort(0).withPool(1, 4)
                .withLimits(ServerOptions.DEFAULT_MAX_BODY, Duration.ofMinutes(1), Duration.ofMillis(200));
        SkipperServer s = SkipperServer.start(new SlowEngine(engine, 5), opts);
        CompletableFuture<HttpResponse<String>> running = HTTP.sendAsync(HttpRequest.newBuilder(
                s.uri().resolve("/v1/chat/completions")).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(chatBody("stream until told", 480, true))).build(),
                HttpResponse.BodyHandlers.ofString());
        awaitMetric(s, "skipper_sessions_busy 1");
        long t0 = System.nanoTime();
        s.close();
        assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(15).toNanos(), "close took too long");
        HttpResponse<String> r = running.get();
        assertEquals(200, r.statusCode());
        List<String> ev = events(r.body());
        assertEquals("[DONE]", ev.get(ev.size() - 1), "the stream ended cleanly");
        // Cut short by the shutdown after its 200 ms of grace: far fewer than 480 tokens, marked so.
        JsonObject last = JsonParser.parseString(ev.get(ev.size() - 3)).getAsJsonObject();
        assertEquals("cancelled", last.getAsJsonObject("skipper").get("finish").getAsString(), ev.get(ev.size() - 3));
        assertThrows(IOException.class, () -> get(s, "/health"));
    }

    static String structured(String schema, boolean stream) {
        JsonObject o = JsonParser.parseString(chatBody("Give me the command as JSON", 256, stream)).getAsJsonObject();
        JsonObject rf = new JsonObject();
        if (schema == null) {
            rf.addProperty("type", "json_object");
        } else {
            rf.addProperty("type", "json_schema");
            JsonObject js = new JsonObject();
            js.addProperty("name", "s");
            js.addProperty("strict", true);
            js.add("schema", JsonParser.parseString(schema));
            rf.add("json_schema", js);
        }
        o.add("response_format", rf);
        return o.toString();
    }

    static String content(HttpResponse<String> r) {
        return json(r).getAsJsonArray("choices").get(0).getAsJsonObject().getAsJsonObject("message").get("content")
                .getAsString();
    }

    @Test
    void structuredOutputParsesAndMatchesItsSchema() throws Exception {
        String command = "{\"type\":\"object\",\"properties\":{\"action\":{\"enum\":[\"go\",\"stop\",\"dock\"]},"
                + "\"target\":{\"type\":\"string\",\"maxLength\":12},\"speed\":{\"type\":\"number\"}},"
                + "\"required\":[\"action\",\"target\"],\"additionalProperties\":false}";
        HttpResponse<String> r = post(server, "/v1/chat/completions", structured(command, false));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals("stop", json(r).getAsJsonArray("choices").get(0).getAsJsonObject().get("finish_reason")
                .getAsString(), r.body());
        JsonObject doc = JsonParser.parseString(content(r)).getAsJsonObject();
        assertTrue(List.of("go", "stop", "dock").contains(doc.get("action").getAsString()), content(r));
        assertTrue(doc.get("target").getAsString().length() <= 12, content(r));
        assertTrue(doc.keySet().stream().allMatch(k -> List.of("action", "target", "speed").contains(k)), content(r));
        if (doc.has("speed")) {
            doc.get("speed").getAsDouble();
        }
        // Streamed, the same document.
        StringBuilder sb = new StringBuilder();
        for (String e : events(post(server, "/v1/chat/completions", structured(command, true)).body())) {
            if (!e.equals("[DONE]")) {
                JsonArray ch = JsonParser.parseString(e).getAsJsonObject().getAsJsonArray("choices");
                if (!ch.isEmpty() && ch.get(0).getAsJsonObject().getAsJsonObject("delta").has("content")) {
                    sb.append(ch.get(0).getAsJsonObject().getAsJsonObject("delta").get("content").getAsString());
                }
            }
        }
        assertEquals(content(r), sb.toString());
        // Arrays with bounds, anyOf, nested objects.
        HttpResponse<String> a = post(server, "/v1/chat/completions", structured("{\"type\":\"array\",\"items\":"
                + "{\"type\":\"integer\"},\"minItems\":2,\"maxItems\":4}", false));
        JsonArray arr = JsonParser.parseString(content(a)).getAsJsonArray();
        assertTrue(arr.size() >= 2 && arr.size() <= 4, content(a));
        for (JsonElement x : arr) {
            assertEquals(x.getAsBigDecimal().stripTrailingZeros().scale() <= 0, true, content(a));
        }
        HttpResponse<String> n = post(server, "/v1/chat/completions", structured("{\"type\":\"object\",\"properties\":"
                + "{\"points\":{\"type\":\"array\",\"maxItems\":3,\"items\":{\"anyOf\":[{\"type\":\"null\"},"
                + "{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"boolean\"}},\"required\":[\"x\"]}]}}},"
                + "\"required\":[\"points\"]}", false));
        JsonObject nested = JsonParser.parseString(content(n)).getAsJsonObject();
        for (JsonElement p : nested.getAsJsonArray("points")) {
            assertTrue(p.isJsonNull() || p.getAsJsonObject().get("x").getAsJsonPrimitive().isBoolean(), content(n));
        }
        // json_object: whatever it writes is a JSON object prefix; when it finishes, a whole object.
        HttpResponse<String> free = post(server, "/v1/chat/completions", structured(null, false));
        assertEquals(200, free.statusCode(), free.body());
        String text = content(free);
        assertTrue(text.startsWith("{"), text);
        if (json(free).getAsJsonArray("choices").get(0).getAsJsonObject().get("finish_reason").getAsString()
                .equals("stop")) {
            assertTrue(JsonParser.parseString(text).isJsonObject(), text);
        }
    }

    /**
     * The official {@code openai} Python client against this server (exporters' venv): shapes,
     * streaming, errors, and 24 structured-output schemas validated by {@code jsonschema}.
     */
    @Test
    void theOfficialOpenAiClientAndJsonschemaAgree() throws Exception {
        Path repo = Path.of("").toAbsolutePath();
        while (repo != null && !java.nio.file.Files.exists(repo.resolve("exporters/skipper_export"))) {
            repo = repo.getParent();
        }
        assertNotNull(repo, "repository root not found from " + Path.of("").toAbsolutePath());
        Path python = Path.of(System.getProperty("skipper.python", ".venv/bin/python"));
        if (!python.isAbsolute()) {
            python = repo.resolve(python); // the launcher's venv path is relative to the repository
        }
        if (!java.nio.file.Files.isExecutable(python)) {
            TestData.missing("no Python venv at " + python + " (./skipper setup makes it)");
        }
        ProcessBuilder pb = new ProcessBuilder(python.toString(), "-m", "skipper_export.bench.openai_check",
                "--base-url", server.uri() + "/v1", "--model", MODEL).redirectErrorStream(true);
        pb.environment().put("PYTHONPATH", repo.resolve("exporters").toString());
        Process proc = pb.start();
        String output;
        try (InputStream in = proc.getInputStream()) {
            output = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        assertTrue(proc.waitFor(300, java.util.concurrent.TimeUnit.SECONDS), "the openai check hung");
        if (output.contains("No module named 'openai'") || output.contains("No module named 'jsonschema'")) {
            TestData.missing("the venv lacks openai/jsonschema (./skipper setup installs them): " + output.strip());
        }
        assertEquals(0, proc.exitValue(), output);
        assertTrue(output.contains("\"schemas_validated\": 24"), output);
    }

    /** A chat completion request written by hand on a raw connection (the test closes it at will). */
    static void postRaw(Socket sock, String json) throws IOException {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        OutputStream out = sock.getOutputStream();
        out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "Content-Length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.write(body);
        out.flush();
    }

    static void awaitMetric(SkipperServer s, String line) throws Exception {
        long end = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (System.nanoTime() < end) {
            if (get(s, "/metrics").body().contains(line + "\n")) {
                return;
            }
            Thread.sleep(2);
        }
        throw new AssertionError("metric never showed: " + line);
    }
}
