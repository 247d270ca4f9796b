package dev.skipper.server;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import dev.skipper.api.ContextOverflowException;
import dev.skipper.api.EmptyPromptException;
import dev.skipper.api.FinishReason;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.GenerationStats;
import dev.skipper.api.InvalidSchemaException;
import dev.skipper.api.Session;
import dev.skipper.api.SkipperException;
import dev.skipper.api.SpeculationStats;
import dev.skipper.api.TokenListener;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Blocker;
import org.eclipse.jetty.util.Callback;

/**
 * The HTTP endpoints: {@code POST /v1/chat/completions}, {@code POST /v1/completions},
 * {@code GET /v1/models[/ID]}, {@code GET /health}, {@code GET /metrics}. Requests run on Jetty's
 * (bounded) thread pool and block while they wait for a session and while they generate; a
 * streamed answer writes one server-sent event per piece of text, so a client that goes away
 * fails the next write and cancels its generation within one decoding step.
 */
final class OpenAiHandler extends Handler.Abstract {
    private static final System.Logger LOG = System.getLogger(OpenAiHandler.class.getName());
    private static final String JSON = "application/json";

    private final SessionPool pool;
    private final RequestParser parser;
    private final ServerOptions options;
    private final ServerMetrics metrics;
    private final ScheduledExecutorService timers;
    private final byte[] apiKey; // UTF-8, or null
    private final long created = System.currentTimeMillis() / 1000;
    private volatile boolean draining;

    OpenAiHandler(SessionPool pool, ServerOptions options, ServerMetrics metrics, ScheduledExecutorService timers) {
        this.pool = pool;
        this.options = options;
        this.metrics = metrics;
        this.timers = timers;
        this.parser = new RequestParser(options.modelId(), options.defaults());
        this.apiKey = options.apiKey() == null ? null : options.apiKey().getBytes(StandardCharsets.UTF_8);
    }

    /** From now on, new requests get a 503 and {@code /health} says so. */
    void drain() {
        draining = true;
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) {
        String path = Request.getPathInContext(request);
        String method = request.getMethod();
        String endpoint = endpointOf(path);
        int status = 200;
        try {
            status = route(request, response, path, method);
        } catch (ApiException e) {
            status = e.status();
            if (!response.isCommitted()) {
                try {
                    sendError(response, e);
                } catch (IOException io) {
                    LOG.log(System.Logger.Level.DEBUG, "client gone before the error was written: {0}", io.toString());
                }
            }
        } catch (IOException e) {
            status = 499; // the client went away mid-request (nginx's code; never sent)
            LOG.log(System.Logger.Level.DEBUG, "client gone: {0}", e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            status = 503;
        } catch (RuntimeException | Error e) {
            status = 500;
            LOG.log(System.Logger.Level.ERROR, "internal error on " + method + " " + endpoint, e);
            if (!response.isCommitted()) {
                try {
                    sendError(response, new ApiException(500, "server_error", null, null, "internal server error"));
                } catch (IOException io) {
                    LOG.log(System.Logger.Level.DEBUG, "client gone: {0}", io.toString());
                }
            }
        }
        metrics.request(endpoint, status);
        callback.succeeded();
        return true;
    }

    private int route(Request request, Response response, String path, String method)
            throws ApiException, IOException, InterruptedException {
        switch (path) {
            case "/health" -> {
                requireMethod(method, "GET");
                boolean ok = !draining;
                send(response, ok ? 200 : 503, JSON, "{\"status\":\"" + (ok ? "ok" : "shutting down") + "\"}");
                return ok ? 200 : 503;
            }
            case "/metrics" -> {
                requireMethod(method, "GET");
                authorize(request);
                send(response, 200, "text/plain; version=0.0.4; charset=utf-8", metrics.render());
                return 200;
            }
            case "/v1/models" -> {
                requireMethod(method, "GET");
                authorize(request);
                JsonObject list = new JsonObject();
                list.addProperty("object", "list");
                JsonArray data = new JsonArray();
                data.add(modelObject());
                list.add("data", data);
                send(response, 200, JSON, list.toString());
                return 200;
            }
            case "/v1/chat/completions", "/v1/completions" -> {
                requireMethod(method, "POST");
                authorize(request);
                if (draining) {
                    throw new ApiException(503, "server_error", null, "unavailable", "the server is shutting down");
                }
                return complete(request, response, path.equals("/v1/chat/completions"));
            }
            default -> {
                if (path.startsWith("/v1/models/")) {
                    requireMethod(method, "GET");
                    authorize(request);
                    String id = path.substring("/v1/models/".length());
                    if (!id.equals(options.modelId())) {
                        throw new ApiException(404, "invalid_request_error", "model", "model_not_found",
                                "the model '" + JsonInput.clip(id) + "' does not exist");
                    }
                    send(response, 200, JSON, modelObject().toString());
                    return 200;
                }
                throw new ApiException(404, "invalid_request_error", null, "unknown_url",
                        "unknown endpoint " + method + " " + JsonInput.clip(path));
            }
        }
    }

    // ---- generation --------------------------------------------------------------------------

    private int complete(Request request, Response response, boolean chat)
            throws ApiException, IOException, InterruptedException {
        long arrival = System.nanoTime();
        long deadline = arrival + options.requestTimeout().toNanos();
        String contentType = request.getHeaders().get(HttpHeader.CONTENT_TYPE);
        if (contentType != null && !contentType.toLowerCase(java.util.Locale.ROOT).startsWith(JSON)) {
            throw new ApiException(415, "invalid_request_error", null, null, "the body must be application/json, got "
                    + JsonInput.clip(contentType));
        }
        CompletionRequest req = parser.parse(JsonInput.parse(readBody(request)), chat);
        try (SessionPool.Lease lease = pool.acquire(req.affinityKey(), deadline - System.nanoTime())) {
            Session session = lease.session();
            lease.holds(""); // until it succeeds: a failed request leaves the cache in an unknown state
            AtomicBoolean deadlineHit = new AtomicBoolean();
            long left = Math.max(1, deadline - System.nanoTime());
            ScheduledFuture<?> timer = timers.schedule(() -> {
                deadlineHit.set(true);
                session.cancel();
            }, left, TimeUnit.NANOSECONDS);
            EndPoint endPoint = request.getConnectionMetaData().getConnection().getEndPoint();
            long idle = endPoint.getIdleTimeout();
            // A long non-streamed generation does no I/O: the connection must not time out under it.
            endPoint.setIdleTimeout(Math.max(idle, TimeUnit.NANOSECONDS.toMillis(left) + 5_000));
            ClientWatch watch = req.stream() ? null : new ClientWatch(endPoint, timers, session::cancel);
            String id = (chat ? "chatcmpl-" : "cmpl-") + HexFormat.of().formatHex(randomBytes());
            long now = System.currentTimeMillis() / 1000;
            try {
                EventStream events = req.stream() ? new EventStream(response, session) : null;
                if (events != null) {
                    response.setStatus(200);
                    response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream; charset=utf-8");
                    response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
                    if (chat) {
                        JsonObject delta = new JsonObject();
                        delta.addProperty("role", "assistant");
                        delta.addProperty("content", "");
                        events.send(chunk(id, now, true, delta, null, null));
                    }
                }
                TokenListener listener = events == null ? null
                        : (text, token) -> {
                            if (!text.isEmpty()) {
                                JsonObject delta = new JsonObject();
                                delta.addProperty(chat ? "content" : "text", text);
                                events.send(chunk(id, now, chat, chat ? delta : null, chat ? null : text, null));
                            }
                        };
                GenerationResult result;
                try {
                    result = chat ? session.reply(req.messages(), req.options(), listener)
                            : session.complete(req.prompt(), req.options(), listener);
                } catch (ContextOverflowException e) {
                    throw ApiException.badRequest(chat ? "messages" : "prompt", "the prompt has " + e.tokens()
                            + " tokens, more than the model's context of " + e.contextLength() + " tokens");
                } catch (InvalidSchemaException e) {
                    throw ApiException.badRequest("response_format.json_schema.schema",
                            JsonInput.clip(SkipperException.oneLine(e.getMessage()), 300));
                } catch (EmptyPromptException e) {
                    throw ApiException.badRequest(chat ? "messages" : "prompt", "the prompt encodes to no tokens");
                } catch (SkipperException e) {
                    LOG.log(System.Logger.Level.ERROR, "generation failed: {0}", e.getMessage());
                    throw new ApiException(500, "server_error", null, null, "generation failed: "
                            + JsonInput.clip(SkipperException.oneLine(e.getMessage())));
                } catch (IllegalArgumentException e) {
                    throw ApiException.badRequest(null, JsonInput.clip(String.valueOf(e.getMessage())));
                }
                boolean cancelled = result.finishReason() == FinishReason.CANCELLED;
                metrics.generation(result.stats(), cancelled);
                if (!cancelled || result.tokenIds().length > 0) {
                    lease.holds(req.affinityKeyAfter(result.text()));
                }
                if (events != null && events.gone()) {
                    return 499;
                }
                String finish = finishReason(result.finishReason());
                JsonObject ext = extension(result, deadlineHit.get());
                if (events == null) {
                    watch.close();
                    if (watch.gone()) {
                        endPoint.close(); // nothing is written: a half-closed client gets no empty answer
                        return 499;
                    }
                    if (watch.pipelined()) {
                        response.getHeaders().put(HttpHeader.CONNECTION, "close");
                    }
                    send(response, 200, JSON, full(id, now, chat, result, finish, ext).toString());
                    return 200;
                }
                JsonObject last = chunk(id, now, chat, chat ? new JsonObject() : null, chat ? null : "", finish);
                last.add("skipper", ext);
                events.send(last);
                if (req.includeUsage()) {
                    JsonObject usage = chunk(id, now, chat, null, null, null);
                    usage.add("choices", new JsonArray());
                    usage.add("usage", usage(result.stats()));
                    events.send(usage);
                }
                events.done();
                return events.gone() ? 499 : 200;
            } finally {
                if (watch != null) {
                    watch.close();
                    if (watch.pipelined() && !response.isCommitted()) {
                        // Bytes of another request were dropped: an error answer must close too.
                        response.getHeaders().put(HttpHeader.CONNECTION, "close");
                    }
                }
                timer.cancel(false);
                endPoint.setIdleTimeout(idle);
            }
        }
    }

    /** Server-sent events on a response: {@code data: JSON\n\n} per event, {@code data: [DONE]} last. */
    private static final class EventStream {
        private final Response response;
        private final Session session;
        private boolean gone;

        EventStream(Response response, Session session) {
            this.response = response;
            this.session = session;
        }

        /** Writes an event; if the client is gone, cancels the generation instead (no exception). */
        void send(JsonObject event) {
            write("data: " + event + "\n\n", false);
        }

        void done() {
            write("data: [DONE]\n\n", true);
        }

        boolean gone() {
            return gone;
        }

        private void write(String s, boolean last) {
            if (gone) {
                return;
            }
            try (Blocker.Callback cb = Blocker.callback()) {
                response.write(last, ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8)), cb);
                cb.block();
            } catch (IOException e) {
                gone = true;
                session.cancel(); // stops at the next decoding step
            }
        }
    }

    /** The fields every completion object starts with. */
    private JsonObject envelope(String id, long now, String object) {
        JsonObject o = new JsonObject();
        o.addProperty("id", id);
        o.addProperty("object", object);
        o.addProperty("created", now);
        o.addProperty("model", options.modelId());
        return o;
    }

    private JsonObject chunk(String id, long now, boolean chat, JsonObject delta, String text, String finish) {
        JsonObject o = envelope(id, now, chat ? "chat.completion.chunk" : "text_completion");
        JsonArray choices = new JsonArray();
        if (delta != null || text != null) {
            JsonObject c = new JsonObject();
            c.addProperty("index", 0);
            if (chat) {
                c.add("delta", delta);
            } else {
                c.addProperty("text", text);
                c.add("logprobs", JsonNull.INSTANCE);
            }
            c.add("finish_reason", finish == null ? JsonNull.INSTANCE : new JsonPrimitive(finish));
            choices.add(c);
        }
        o.add("choices", choices);
        return o;
    }

    private JsonObject full(String id, long now, boolean chat, GenerationResult r, String finish, JsonObject ext) {
        JsonObject o = envelope(id, now, chat ? "chat.completion" : "text_completion");
        JsonObject c = new JsonObject();
        c.addProperty("index", 0);
        if (chat) {
            JsonObject m = new JsonObject();
            m.addProperty("role", "assistant");
            m.addProperty("content", r.text());
            m.add("refusal", JsonNull.INSTANCE);
            c.add("message", m);
        } else {
            c.addProperty("text", r.text());
        }
        c.add("logprobs", JsonNull.INSTANCE);
        c.addProperty("finish_reason", finish);
        JsonArray choices = new JsonArray();
        choices.add(c);
        o.add("choices", choices);
        o.add("usage", usage(r.stats()));
        o.add("skipper", ext);
        return o;
    }

    private static JsonObject usage(GenerationStats s) {
        JsonObject u = new JsonObject();
        u.addProperty("prompt_tokens", s.promptTokens());
        u.addProperty("completion_tokens", s.generatedTokens());
        u.addProperty("total_tokens", s.promptTokens() + s.generatedTokens());
        return u;
    }

    /** Skipper's additions to a response: how it ended, timings and speculation figures. */
    private JsonObject extension(GenerationResult r, boolean deadlineHit) {
        GenerationStats s = r.stats();
        JsonObject ext = new JsonObject();
        ext.addProperty("finish", deadlineHit && r.finishReason() == FinishReason.CANCELLED ? "deadline"
                : r.finishReason().name().toLowerCase(java.util.Locale.ROOT));
        JsonObject t = new JsonObject();
        t.add("ttft_ms", num(s.ttftMillis()));
        t.add("prefill_tokens_per_second", num(s.prefillTokensPerSecond()));
        t.add("decode_tokens_per_second", num(s.decodeTokensPerSecond()));
        ext.add("timings", t);
        SpeculationStats sp = s.speculation();
        JsonObject spec = new JsonObject();
        spec.addProperty("mode", String.valueOf(r.stats().speculation() == SpeculationStats.NONE ? "off"
                : options.defaults().speculation() == null ? "deployment" : options.defaults().speculation()));
        spec.addProperty("rounds", sp.rounds());
        spec.addProperty("drafted", sp.drafted());
        spec.addProperty("accepted", sp.accepted());
        spec.add("acceptance", num(sp.acceptanceRate()));
        spec.add("accepted_per_round", num(sp.meanAcceptedPerRound()));
        spec.addProperty("switched_off", sp.switchedOff());
        ext.add("speculation", spec);
        return ext;
    }

    private static String finishReason(FinishReason f) {
        return switch (f) {
            case EOS, STOP_STRING -> "stop";
            case MAX_TOKENS, CONTEXT_FULL, CANCELLED -> "length";
        };
    }

    private JsonObject modelObject() {
        JsonObject m = new JsonObject();
        m.addProperty("id", options.modelId());
        m.addProperty("object", "model");
        m.addProperty("created", created);
        m.addProperty("owned_by", "skipper");
        return m;
    }

    // ---- plumbing ----------------------------------------------------------------------------

    private String readBody(Request request) throws ApiException, IOException {
        long declared = request.getLength();
        int max = options.maxBodyBytes();
        // A body over the limit is read and dropped (up to drainLimit) before the 413 goes out: answering while
        // the client still sends makes the close reset the connection, and a reset client loses the answer. A
        // client that sent Expect: 100-continue has sent no body yet, and a body past drainLimit is not worth
        // reading: both get the 413 at once.
        long drainLimit = Math.max(16L << 20, 2L * max);
        boolean bodyWaits = request.getHeaders().contains(HttpHeader.EXPECT, "100-continue");
        if (declared > max && (bodyWaits || declared > drainLimit)) {
            throw tooLarge("the body has " + declared + " bytes, more than the limit of " + max);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream( // nothing reserved for a body that is dropped
                declared > max ? 0 : (int) Math.min(Math.max(declared, 256), max));
        byte[] buf = new byte[8192];
        long read = 0;
        try (InputStream in = Content.Source.asInputStream(request)) {
            int n;
            while ((n = in.read(buf)) >= 0) {
                read += n;
                if (read > max) {
                    if (read > drainLimit) {
                        break;
                    }
                } else {
                    out.write(buf, 0, n);
                }
            }
        }
        if (read > max) {
            throw tooLarge(declared > max ? "the body has " + declared + " bytes, more than the limit of " + max
                    : "the body is larger than the limit of " + max + " bytes");
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(out.toByteArray()))
                    .toString();
        } catch (CharacterCodingException e) {
            throw ApiException.badRequest(null, "the body is not valid UTF-8");
        }
    }

    private static ApiException tooLarge(String message) {
        return new ApiException(413, "invalid_request_error", null, "body_too_large", message);
    }

    private void authorize(Request request) throws ApiException {
        if (apiKey == null) {
            return;
        }
        String h = request.getHeaders().get(HttpHeader.AUTHORIZATION);
        byte[] given = h != null && h.regionMatches(true, 0, "Bearer ", 0, 7)
                ? h.substring(7).trim().getBytes(StandardCharsets.UTF_8) : new byte[0];
        if (!MessageDigest.isEqual(given, apiKey)) { // constant time for equal lengths
            throw new ApiException(401, "invalid_request_error", null, "invalid_api_key",
                    h == null ? "missing API key: send Authorization: Bearer KEY" : "incorrect API key");
        }
    }

    private static void requireMethod(String method, String allowed) throws ApiException {
        if (!method.equals(allowed)) {
            throw new ApiException(405, "invalid_request_error", null, "method_not_allowed", method
                    + " is not allowed here; use " + allowed);
        }
    }

    private static String endpointOf(String path) {
        return switch (path) {
            case "/health", "/metrics", "/v1/models", "/v1/chat/completions", "/v1/completions" -> path;
            default -> path.startsWith("/v1/models/") ? "/v1/models/{id}" : "other";
        };
    }

    private static void sendError(Response response, ApiException e) throws IOException {
        JsonObject err = new JsonObject();
        err.addProperty("message", e.getMessage());
        err.addProperty("type", e.type());
        err.add("param", e.param() == null ? JsonNull.INSTANCE : new JsonPrimitive(e.param()));
        err.add("code", e.code() == null ? JsonNull.INSTANCE : new JsonPrimitive(e.code()));
        JsonObject o = new JsonObject();
        o.add("error", err);
        if (e.status() == 429) {
            response.getHeaders().put(HttpHeader.RETRY_AFTER, "1");
        }
        if (e.status() == 405) {
            response.getHeaders().put(HttpHeader.ALLOW, e.getMessage().substring(e.getMessage().lastIndexOf(' ') + 1));
        }
        send(response, e.status(), JSON, o.toString());
    }

    private static void send(Response response, int status, String type, String body) throws IOException {
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, type.startsWith(JSON) ? JSON : type);
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, bytes.length);
        try (Blocker.Callback cb = Blocker.callback()) {
            response.write(true, ByteBuffer.wrap(bytes), cb);
            cb.block();
        }
    }

    private static JsonElement num(double v) {
        return Double.isFinite(v) ? new JsonPrimitive(v) : JsonNull.INSTANCE;
    }

    private static byte[] randomBytes() {
        byte[] b = new byte[12];
        ThreadLocalRandom.current().nextBytes(b);
        return b;
    }
}
