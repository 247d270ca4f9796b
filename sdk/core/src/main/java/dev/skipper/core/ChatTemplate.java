package dev.skipper.core;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import dev.skipper.api.ChatMessage;
import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import java.io.IOException;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * A model's Jinja chat template (Hugging Face {@code chat_template}), rendered with Jinjava.
 *
 * <p>The template sees the variables Hugging Face's {@code apply_chat_template} provides:
 * {@code messages} (a list of maps with {@code role} and {@code content}),
 * {@code add_generation_prompt}, {@code bos_token} and {@code eos_token}, and the function
 * {@code raise_exception(message)}. As in Hugging Face, blocks are rendered with
 * {@code trim_blocks} and {@code lstrip_blocks}, and a trailing newline of the template is dropped.
 *
 * <p>A bundle is untrusted input, so rendering is sandboxed as far as Jinjava allows: no template
 * can load another ({@code include}, {@code import}, {@code from}, {@code extends} are disabled and
 * the resource locator refuses everything); values are never re-interpreted as templates (a
 * message containing <code>{{ ... }}</code> stays literal text); macros cannot recurse; output, strings,
 * lists, maps and ranges are bounded ({@link #MAX_OUTPUT_CHARS}); the only objects the template
 * can reach are strings, booleans, lists and maps.
 *
 * <p>Python string methods such as {@code startswith} are not available (Jinjava exposes Java's
 * {@code String} methods instead: {@code strip()}, {@code replace()} work); a template that calls
 * one fails with a {@link SkipperException} naming the problem.
 *
 * <p>Immutable and thread-safe.
 */
public final class ChatTemplate {
    /** Longest rendered conversation, in characters. */
    public static final long MAX_OUTPUT_CHARS = 8L << 20;

    // java.util.logging, not System.Logger: Android has no System.Logger (System.Logger goes to
    // java.util.logging on a JDK anyway, so the desktop sees no difference)
    private static final java.util.logging.Logger LOG = java.util.logging.Logger.getLogger(ChatTemplate.class.getName());
    private static final int MAX_COLLECTION_SIZE = 100_000;
    private static final int MAX_RANGE = 100_000;

    private final String source;
    /** {@link #source} without its final newline, as Jinja's {@code keep_trailing_newline=False} reads it. */
    private final String jinjaSource;
    private final String bosToken;
    private final String eosToken;
    private final Jinjava jinjava;

    /**
     * Prepares a template.
     *
     * @param source the Jinja source
     * @param bosToken the text of the beginning-of-sequence token ({@code bos_token}), or empty
     * @param eosToken the text of the end-of-sequence token ({@code eos_token}), or empty
     */
    public ChatTemplate(String source, String bosToken, String eosToken) {
        this.source = Objects.requireNonNull(source, "source");
        this.jinjaSource = source.endsWith("\r\n") ? source.substring(0, source.length() - 2)
                : source.endsWith("\n") ? source.substring(0, source.length() - 1) : source;
        this.bosToken = Objects.requireNonNull(bosToken, "bosToken");
        this.eosToken = Objects.requireNonNull(eosToken, "eosToken");
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .withKeepTrailingNewline(true) // Jinja drops the source's last newline: see jinjaSource
                .withNestedInterpretationEnabled(false)
                .withEnableRecursiveMacroCalls(false)
                .withMaxRenderDepth(1)
                .withMaxOutputSize(MAX_OUTPUT_CHARS)
                .withMaxStringLength(MAX_OUTPUT_CHARS)
                .withMaxListSize(MAX_COLLECTION_SIZE)
                .withMaxMapSize(MAX_COLLECTION_SIZE)
                .withRangeLimit(MAX_RANGE)
                .withFailOnUnknownTokens(false)
                .withLocale(Locale.ROOT)
                .withTimeZone(ZoneOffset.UTC)
                .withDisabled(Map.of(Context.Library.TAG, Set.of("include", "import", "from", "extends")))
                .withRestrictedMethods(Set.of("repeat", "wait", "notify", "notifyAll", "getClass", "intern"))
                .build();
        this.jinjava = new Jinjava(config);
        this.jinjava.setResourceLocator((name, encoding, interpreter) -> {
            throw new IOException("chat templates may not load other templates ('" + name + "')");
        });
        this.jinjava.registerFunction(new ELFunctionDefinition("", "raise_exception", ChatTemplateFunctions.class,
                "raiseException", String.class));
    }

    /**
     * The chat template of a bundle, with {@code bos_token}/{@code eos_token} taken from the
     * manifest's special tokens (the first EOS id; empty when an id has no special-token text).
     *
     * @param manifest the bundle's manifest
     * @return the template, or empty when the bundle has none
     */
    public static Optional<ChatTemplate> of(BundleManifest manifest) {
        BundleManifest.TokenizerSpec tok = manifest.tokenizer();
        Map<Integer, String> textOf = new HashMap<>();
        tok.specialTokens().forEach((text, id) -> textOf.putIfAbsent(id, text));
        String bos = tok.bosId() == null ? "" : textOf.getOrDefault(tok.bosId(), "");
        String eos = tok.eosIds().isEmpty() ? "" : textOf.getOrDefault(tok.eosIds().get(0), "");
        return manifest.chatTemplateIfAny().map(t -> new ChatTemplate(t, bos, eos));
    }

    /** @return the Jinja source */
    public String source() {
        return source;
    }

    /** @return the text given to templates as {@code bos_token} */
    public String bosToken() {
        return bosToken;
    }

    /** @return the text given to templates as {@code eos_token} */
    public String eosToken() {
        return eosToken;
    }

    /**
     * Renders a conversation.
     *
     * @param messages the turns, oldest first
     * @param addGenerationPrompt end with the header of an assistant turn (to generate its reply)
     * @return the prompt text
     * @throws SkipperException if the template fails (syntax error, {@code raise_exception}, a
     *     limit); the message is one line
     */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) throws SkipperException {
        List<Map<String, Object>> turns = new ArrayList<>(messages.size());
        for (ChatMessage m : messages) {
            Map<String, Object> turn = new LinkedHashMap<>();
            turn.put("role", m.role());
            turn.put("content", m.content());
            turns.add(turn);
        }
        Map<String, Object> context = new HashMap<>();
        context.put("messages", turns);
        context.put("add_generation_prompt", addGenerationPrompt);
        context.put("bos_token", bosToken);
        context.put("eos_token", eosToken);
        RenderResult result;
        try {
            result = jinjava.renderForResult(jinjaSource, context);
        } catch (RuntimeException e) {
            throw new SkipperException("chat template failed: " + SkipperException.oneLine(describe(e)), e);
        }
        for (TemplateError error : result.getErrors()) {
            if (error.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw new SkipperException("chat template failed" + (error.getLineno() > 0 ? " at line "
                        + error.getLineno() : "") + ": " + SkipperException.oneLine(describe(error)), error.getException());
            }
            LOG.log(java.util.logging.Level.FINE, "chat template warning: {0}", error.getMessage());
        }
        return result.getOutput();
    }

    /** The message of a template error: {@code raise_exception}'s text when the template raised. */
    private static String describe(TemplateError error) {
        String raised = raised(error.getException());
        return raised != null ? raised : String.valueOf(error.getMessage());
    }

    private static String describe(Throwable e) {
        String raised = raised(e);
        return raised != null ? raised : String.valueOf(e.getMessage());
    }

    private static String raised(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof ChatTemplateFunctions.RaisedException) {
                return "raise_exception: " + t.getMessage();
            }
        }
        return null;
    }
}
