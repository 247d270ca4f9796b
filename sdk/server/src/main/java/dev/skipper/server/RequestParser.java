package dev.skipper.server;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import dev.skipper.api.ChatMessage;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.ResponseFormat;
import dev.skipper.api.SamplingOptions;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Turns an OpenAI request body into a {@link CompletionRequest}, refusing what it cannot honour.
 *
 * <p>Every field of OpenAI's chat and completions requests is either used, accepted only at the
 * value that means "off" (for example {@code presence_penalty: 0}, {@code n: 1}), ignored because
 * it does not change the output ({@code user}, {@code metadata}, {@code store}), or refused with a
 * 400 that names it: nothing is silently misread. A field OpenAI does not define is refused too
 * (as OpenAI does), except the llama.cpp-style sampling extensions {@code top_k}, {@code min_p}
 * and {@code repetition_penalty}. docs/server.md lists them all.
 */
final class RequestParser {
    /** Most stop sequences per request (OpenAI allows 4; llama.cpp more). */
    static final int MAX_STOP = 16;
    /** Longest stop sequence, in characters. */
    static final int MAX_STOP_CHARS = 256;
    /** Most chat messages per request. */
    static final int MAX_MESSAGES = 1024;

    private static final Set<String> IGNORED = Set.of("user", "metadata", "store", "service_tier", "modalities",
            "prediction", "reasoning_effort", "web_search_options", "safety_identifier", "prompt_cache_key");
    private static final Set<String> CHAT_FIELDS = Set.of("model", "messages", "max_tokens", "max_completion_tokens",
            "temperature", "top_p", "seed", "stop", "n", "stream", "stream_options", "response_format",
            "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "tools", "tool_choice",
            "functions", "function_call", "parallel_tool_calls", "audio", "top_k", "min_p", "repetition_penalty");
    private static final Set<String> TEXT_FIELDS = Set.of("model", "prompt", "max_tokens", "temperature", "top_p",
            "seed", "stop", "n", "stream", "stream_options", "presence_penalty", "frequency_penalty", "logit_bias",
            "logprobs", "echo", "suffix", "best_of", "top_k", "min_p", "repetition_penalty");
    private static final BigDecimal INT_MAX = BigDecimal.valueOf(Integer.MAX_VALUE);
    private static final BigDecimal LONG_MIN = BigDecimal.valueOf(Long.MIN_VALUE);
    private static final BigDecimal LONG_MAX = BigDecimal.valueOf(Long.MAX_VALUE);

    private final String modelId;
    private final GenerationOptions defaults;

    /**
     * @param modelId the model name requests must use (or leave out)
     * @param defaults the deployment's generation options, which request fields override
     */
    RequestParser(String modelId, GenerationOptions defaults) {
        this.modelId = modelId;
        this.defaults = defaults;
    }

    /**
     * @param body the parsed body
     * @param chat whether the endpoint is {@code /v1/chat/completions}
     * @return the request
     * @throws ApiException 400 (bad field), 404 (unknown model)
     */
    CompletionRequest parse(JsonElement body, boolean chat) throws ApiException {
        if (!body.isJsonObject()) {
            throw ApiException.badRequest(null, "the body must be a JSON object");
        }
        JsonObject o = body.getAsJsonObject();
        Set<String> known = chat ? CHAT_FIELDS : TEXT_FIELDS;
        for (String k : o.keySet()) {
            if (!known.contains(k) && !IGNORED.contains(k)) {
                throw ApiException.badRequest(k, "unrecognized request argument supplied: " + JsonInput.clip(k));
            }
        }
        String model = string(o, "model", false);
        if (model != null && !model.equals(modelId)) {
            throw new ApiException(404, "invalid_request_error", "model", "model_not_found",
                    "the model '" + JsonInput.clip(model) + "' does not exist; this server serves '" + modelId + "'");
        }
        refuseUnlessOff(o, chat);
        Integer max = positiveInt(o, "max_tokens");
        if (chat) {
            Integer mct = positiveInt(o, "max_completion_tokens");
            if (max != null && mct != null && !max.equals(mct)) {
                throw ApiException.badRequest("max_completion_tokens", "max_tokens (" + max + ") and "
                        + "max_completion_tokens (" + mct + ") disagree; give one of them");
            }
            if (mct != null) {
                max = mct;
            }
        }
        boolean stream = bool(o, "stream", false);
        boolean includeUsage = false;
        JsonElement so = o.get("stream_options");
        if (so != null && !so.isJsonNull()) {
            if (!so.isJsonObject()) {
                throw ApiException.badRequest("stream_options", "must be an object");
            }
            if (!stream) {
                throw ApiException.badRequest("stream_options", "is only allowed with stream: true");
            }
            for (String k : so.getAsJsonObject().keySet()) {
                if (!k.equals("include_usage") && !k.equals("include_obfuscation")) {
                    throw ApiException.badRequest("stream_options." + JsonInput.clip(k), "unrecognized stream option");
                }
            }
            includeUsage = bool(so.getAsJsonObject(), "include_usage", false);
        }
        GenerationOptions options = new GenerationOptions(max != null ? max : defaults.maxNewTokens(),
                sampling(o), stops(o), defaults.stopAtEos(), defaults.speculation(), defaults.adaptiveDepth(),
                chat ? responseFormat(o) : ResponseFormat.TEXT);
        if (chat) {
            return new CompletionRequest(true, messages(o), null, options, stream, includeUsage);
        }
        return new CompletionRequest(false, List.of(), prompt(o), options, stream, includeUsage);
    }

    /** Fields accepted only at their "off" value. */
    private static void refuseUnlessOff(JsonObject o, boolean chat) throws ApiException {
        Integer n = positiveInt(o, "n");
        if (n != null && n != 1) {
            throw ApiException.badRequest("n", "only n = 1 is supported, got " + n);
        }
        for (String k : List.of("presence_penalty", "frequency_penalty")) {
            Double v = number(o, k);
            if (v != null && v != 0) {
                throw ApiException.badRequest(k, k + " is not supported (only 0); use repetition_penalty");
            }
        }
        JsonElement bias = o.get("logit_bias");
        if (bias != null && !bias.isJsonNull() && !(bias.isJsonObject() && bias.getAsJsonObject().isEmpty())) {
            throw ApiException.badRequest("logit_bias", "logit_bias is not supported");
        }
        JsonElement lp = o.get("logprobs");
        if (lp != null && !lp.isJsonNull() && !(chat ? isFalse(lp) : isZero(lp))) {
            throw ApiException.badRequest("logprobs", "logprobs are not supported by this server");
        }
        if (o.has("top_logprobs") && !o.get("top_logprobs").isJsonNull() && !isZero(o.get("top_logprobs"))) {
            throw ApiException.badRequest("top_logprobs", "logprobs are not supported by this server");
        }
        for (String k : List.of("tools", "functions", "audio")) {
            JsonElement e = o.get(k);
            if (e != null && !e.isJsonNull() && !(e.isJsonArray() && e.getAsJsonArray().isEmpty())) {
                throw ApiException.badRequest(k, k + " are not supported by this server");
            }
        }
        for (String k : List.of("tool_choice", "function_call")) {
            JsonElement e = o.get(k);
            if (e != null && !e.isJsonNull() && !(e.isJsonPrimitive() && e.getAsString().equals("none"))) {
                throw ApiException.badRequest(k, k + " is not supported by this server (only \"none\")");
            }
        }
        if (o.has("parallel_tool_calls") && !o.get("parallel_tool_calls").isJsonNull()) {
            bool(o, "parallel_tool_calls", false); // a boolean; without tools it changes nothing
        }
        if (o.has("echo") && bool(o, "echo", false)) {
            throw ApiException.badRequest("echo", "echo is not supported");
        }
        if (o.has("suffix") && !o.get("suffix").isJsonNull()) {
            throw ApiException.badRequest("suffix", "suffix (insertion) is not supported");
        }
        Integer bestOf = positiveInt(o, "best_of");
        if (bestOf != null && bestOf != 1) {
            throw ApiException.badRequest("best_of", "only best_of = 1 is supported, got " + bestOf);
        }
    }

    /** {@code response_format}: text, {@code json_object}, or {@code json_schema} with its schema. */
    private static ResponseFormat responseFormat(JsonObject o) throws ApiException {
        JsonElement rf = o.get("response_format");
        if (rf == null || rf.isJsonNull()) {
            return ResponseFormat.TEXT;
        }
        if (!rf.isJsonObject()) {
            throw ApiException.badRequest("response_format", "must be an object");
        }
        JsonObject f = rf.getAsJsonObject();
        String type = string(f, "type", true);
        for (String k : f.keySet()) {
            if (!k.equals("type") && !(type.equals("json_schema") && k.equals("json_schema"))) {
                throw ApiException.badRequest("response_format." + JsonInput.clip(k), "unrecognized field");
            }
        }
        switch (type) {
            case "text" -> {
                return ResponseFormat.TEXT;
            }
            case "json_object" -> {
                return ResponseFormat.jsonObject();
            }
            case "json_schema" -> {
                JsonElement js = f.get("json_schema");
                if (js == null || !js.isJsonObject()) {
                    throw ApiException.badRequest("response_format.json_schema", "json_schema must be an object with "
                            + "a schema");
                }
                JsonObject j = js.getAsJsonObject();
                for (String k : j.keySet()) {
                    if (!Set.of("name", "schema", "strict", "description").contains(k)) {
                        throw ApiException.badRequest("response_format.json_schema." + JsonInput.clip(k),
                                "unrecognized field");
                    }
                }
                string(j, "name", false);
                bool(j, "strict", false); // a boolean: the schema is always enforced strictly here
                JsonElement schema = j.get("schema");
                if (schema == null || !(schema.isJsonObject() || schema.isJsonPrimitive()
                        && schema.getAsJsonPrimitive().isBoolean())) {
                    throw ApiException.badRequest("response_format.json_schema.schema", "schema must be a JSON schema "
                            + "object");
                }
                return ResponseFormat.jsonSchema(schema.toString());
            }
            default -> throw ApiException.badRequest("response_format.type", "response_format type '"
                    + JsonInput.clip(type) + "' is not supported (text, json_object, json_schema)");
        }
    }

    private SamplingOptions sampling(JsonObject o) throws ApiException {
        SamplingOptions d = defaults.sampling();
        Double temperature = number(o, "temperature");
        Double topP = number(o, "top_p");
        Long seed = int64(o, "seed");
        Integer topK = nonNegativeInt(o, "top_k");
        Double minP = number(o, "min_p");
        Double rep = number(o, "repetition_penalty");
        if (temperature != null && !(temperature >= 0 && temperature <= 2)) {
            throw ApiException.badRequest("temperature", "must be between 0 and 2, got " + temperature);
        }
        if (topP != null && !(topP > 0 && topP <= 1)) {
            throw ApiException.badRequest("top_p", "must be in (0, 1], got " + topP);
        }
        if (minP != null && !(minP >= 0 && minP < 1)) {
            throw ApiException.badRequest("min_p", "must be in [0, 1), got " + minP);
        }
        if (rep != null && !(rep >= 1 && rep <= 10)) {
            throw ApiException.badRequest("repetition_penalty", "must be between 1 and 10, got " + rep);
        }
        boolean greedy = temperature != null ? temperature == 0 : d.greedy();
        return new SamplingOptions(greedy, greedy || temperature == null ? d.temperature() : temperature,
                topK != null ? topK : d.topK(), topP != null ? topP : d.topP(), minP != null ? minP : d.minP(),
                rep != null ? rep : d.repetitionPenalty(),
                seed != null ? seed : greedy ? d.seed() : ThreadLocalRandom.current().nextLong());
    }

    private List<String> stops(JsonObject o) throws ApiException {
        JsonElement e = o.get("stop");
        if (e == null || e.isJsonNull()) {
            return defaults.stopStrings();
        }
        List<String> out = new ArrayList<>();
        if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isString()) {
            out.add(e.getAsString());
        } else if (e.isJsonArray()) {
            JsonArray a = e.getAsJsonArray();
            if (a.size() > MAX_STOP) {
                throw ApiException.badRequest("stop", "at most " + MAX_STOP + " stop sequences, got " + a.size());
            }
            for (JsonElement s : a) {
                if (!(s.isJsonPrimitive() && s.getAsJsonPrimitive().isString())) {
                    throw ApiException.badRequest("stop", "must be a string or a list of strings");
                }
                out.add(s.getAsString());
            }
        } else {
            throw ApiException.badRequest("stop", "must be a string or a list of strings");
        }
        for (String s : out) {
            if (s.isEmpty() || s.length() > MAX_STOP_CHARS) {
                throw ApiException.badRequest("stop", "stop sequences must have 1 to " + MAX_STOP_CHARS
                        + " characters, got " + s.length());
            }
        }
        return out;
    }

    private static List<ChatMessage> messages(JsonObject o) throws ApiException {
        JsonElement e = o.get("messages");
        if (e == null || !e.isJsonArray() || e.getAsJsonArray().isEmpty()) {
            throw ApiException.badRequest("messages", "messages must be a non-empty list");
        }
        JsonArray a = e.getAsJsonArray();
        if (a.size() > MAX_MESSAGES) {
            throw ApiException.badRequest("messages", "at most " + MAX_MESSAGES + " messages, got " + a.size());
        }
        List<ChatMessage> out = new ArrayList<>(a.size());
        for (int i = 0; i < a.size(); i++) {
            String at = "messages[" + i + "]";
            if (!a.get(i).isJsonObject()) {
                throw ApiException.badRequest(at, "each message must be an object");
            }
            JsonObject m = a.get(i).getAsJsonObject();
            for (String k : m.keySet()) {
                if (!Set.of("role", "content", "name", "refusal").contains(k)) {
                    throw ApiException.badRequest(at + "." + JsonInput.clip(k), "unsupported message field "
                            + "(tool calls and audio are not supported)");
                }
            }
            String role = string(m, "role", true);
            String mapped = Map.of("system", "system", "developer", "system", "user", "user",
                    "assistant", "assistant").get(role);
            if (mapped == null) {
                throw ApiException.badRequest(at + ".role", "role must be system, developer, user or assistant, got '"
                        + JsonInput.clip(role) + "'");
            }
            out.add(new ChatMessage(mapped, content(m.get("content"), at + ".content")));
        }
        return out;
    }

    /** A message's content: a string, or a list of text parts (joined). */
    private static String content(JsonElement c, String at) throws ApiException {
        if (c == null || c.isJsonNull()) {
            throw ApiException.badRequest(at, "content is required");
        }
        if (c.isJsonPrimitive() && c.getAsJsonPrimitive().isString()) {
            return c.getAsString();
        }
        if (!c.isJsonArray()) {
            throw ApiException.badRequest(at, "content must be a string or a list of text parts");
        }
        StringBuilder sb = new StringBuilder();
        for (JsonElement part : c.getAsJsonArray()) {
            if (!part.isJsonObject() || !"text".equals(stringOrNull(part.getAsJsonObject().get("type")))) {
                throw ApiException.badRequest(at, "only text content parts are supported");
            }
            sb.append(string(part.getAsJsonObject(), "text", true));
        }
        return sb.toString();
    }

    private static String prompt(JsonObject o) throws ApiException {
        JsonElement e = o.get("prompt");
        if (e != null && e.isJsonArray() && e.getAsJsonArray().size() == 1) {
            e = e.getAsJsonArray().get(0); // a batch of one
        }
        if (e == null || !(e.isJsonPrimitive() && e.getAsJsonPrimitive().isString())) {
            throw ApiException.badRequest("prompt", "prompt must be a string (token-id prompts and batches are not "
                    + "supported)");
        }
        return e.getAsString();
    }

    // ---- typed field readers -----------------------------------------------------------------

    private static String string(JsonObject o, String k, boolean required) throws ApiException {
        JsonElement e = o.get(k);
        if (e == null || e.isJsonNull()) {
            if (required) {
                throw ApiException.badRequest(k, k + " is required");
            }
            return null;
        }
        String s = stringOrNull(e);
        if (s == null) {
            throw ApiException.badRequest(k, k + " must be a string");
        }
        return s;
    }

    private static String stringOrNull(JsonElement e) {
        return e != null && e.isJsonPrimitive() && e.getAsJsonPrimitive().isString() ? e.getAsString() : null;
    }

    private static boolean bool(JsonObject o, String k, boolean fallback) throws ApiException {
        JsonElement e = o.get(k);
        if (e == null || e.isJsonNull()) {
            return fallback;
        }
        if (!(e.isJsonPrimitive() && e.getAsJsonPrimitive().isBoolean())) {
            throw ApiException.badRequest(k, k + " must be true or false");
        }
        return e.getAsBoolean();
    }

    private static BigDecimal decimal(JsonObject o, String k) throws ApiException {
        JsonElement e = o.get(k);
        if (e == null || e.isJsonNull()) {
            return null;
        }
        if (!(e.isJsonPrimitive() && e.getAsJsonPrimitive().isNumber())) {
            throw ApiException.badRequest(k, k + " must be a number");
        }
        return e.getAsBigDecimal();
    }

    private static Double number(JsonObject o, String k) throws ApiException {
        BigDecimal d = decimal(o, k);
        if (d == null) {
            return null;
        }
        double v = d.doubleValue();
        if (!Double.isFinite(v)) {
            throw ApiException.badRequest(k, k + " is out of range");
        }
        return v;
    }

    private static Integer positiveInt(JsonObject o, String k) throws ApiException {
        Integer v = nonNegativeInt(o, k);
        if (v != null && v < 1) {
            throw ApiException.badRequest(k, k + " must be >= 1, got " + v);
        }
        return v;
    }

    private static Integer nonNegativeInt(JsonObject o, String k) throws ApiException {
        BigDecimal d = decimal(o, k);
        if (d == null) {
            return null;
        }
        if (d.signum() < 0) {
            throw ApiException.badRequest(k, k + " must not be negative");
        }
        if (d.compareTo(INT_MAX) > 0) {
            throw ApiException.badRequest(k, k + " is too large (at most " + Integer.MAX_VALUE + ")");
        }
        if (d.stripTrailingZeros().scale() > 0) {
            throw ApiException.badRequest(k, k + " must be an integer");
        }
        return d.intValue();
    }

    private static Long int64(JsonObject o, String k) throws ApiException {
        BigDecimal d = decimal(o, k);
        if (d == null) {
            return null;
        }
        if (d.compareTo(LONG_MIN) < 0 || d.compareTo(LONG_MAX) > 0 || d.stripTrailingZeros().scale() > 0) {
            throw ApiException.badRequest(k, k + " must be a 64-bit integer");
        }
        return d.longValue();
    }

    private static boolean isFalse(JsonElement e) {
        return e.isJsonPrimitive() && e.getAsJsonPrimitive().isBoolean() && !e.getAsBoolean();
    }

    private static boolean isZero(JsonElement e) {
        if (isFalse(e)) {
            return true;
        }
        if (!(e instanceof JsonPrimitive p && p.isNumber())) {
            return false;
        }
        return p.getAsBigDecimal().signum() == 0;
    }
}
