package dev.skipper.api;

import java.util.List;

/**
 * Options of one generation request.
 *
 * @param maxNewTokens at most this many tokens are generated (&gt;= 1)
 * @param sampling how tokens are chosen
 * @param stopStrings generation ends before any of these strings (matched across token boundaries,
 *     never emitted)
 * @param stopAtEos end at the bundle's end-of-sequence tokens
 * @param speculation how this request drafts tokens, or {@code null} for the engine's configured
 *     mode (the per-request switch; every mode gives the same output as {@link SpeculationMode#OFF})
 * @param adaptiveDepth lossy adaptive depth for this request, or {@code null} for the engine's
 *     setting (off unless configured); applies to plain decode steps, not to speculative rounds
 * @param format the shape the text must have ({@link ResponseFormat#TEXT}: none; JSON constraints
 *     are enforced by constrained decoding)
 */
public record GenerationOptions(int maxNewTokens, SamplingOptions sampling, List<String> stopStrings, boolean stopAtEos,
                                SpeculationMode speculation, AdaptiveDepth adaptiveDepth, ResponseFormat format) {

    /**
     * Options without a response-format constraint.
     *
     * @param maxNewTokens the limit
     * @param sampling how tokens are chosen
     * @param stopStrings stop strings
     * @param stopAtEos end at end-of-sequence tokens
     * @param speculation the speculation mode, or {@code null} for the engine's
     * @param adaptiveDepth adaptive depth, or {@code null} for the engine's
     */
    public GenerationOptions(int maxNewTokens, SamplingOptions sampling, List<String> stopStrings, boolean stopAtEos,
                             SpeculationMode speculation, AdaptiveDepth adaptiveDepth) {
        this(maxNewTokens, sampling, stopStrings, stopAtEos, speculation, adaptiveDepth, ResponseFormat.TEXT);
    }

    /**
     * Options with the engine's adaptive-depth setting.
     *
     * @param maxNewTokens the limit
     * @param sampling how tokens are chosen
     * @param stopStrings stop strings
     * @param stopAtEos end at end-of-sequence tokens
     * @param speculation the speculation mode, or {@code null} for the engine's
     */
    public GenerationOptions(int maxNewTokens, SamplingOptions sampling, List<String> stopStrings, boolean stopAtEos,
                             SpeculationMode speculation) {
        this(maxNewTokens, sampling, stopStrings, stopAtEos, speculation, null);
    }

    /**
     * Options that use the engine's configured speculation mode.
     *
     * @param maxNewTokens the limit
     * @param sampling how tokens are chosen
     * @param stopStrings stop strings
     * @param stopAtEos end at end-of-sequence tokens
     */
    public GenerationOptions(int maxNewTokens, SamplingOptions sampling, List<String> stopStrings, boolean stopAtEos) {
        this(maxNewTokens, sampling, stopStrings, stopAtEos, null);
    }

    /** Validates and copies. */
    public GenerationOptions {
        if (maxNewTokens < 1) {
            throw new IllegalArgumentException("max_new_tokens must be >= 1, got " + maxNewTokens);
        }
        if (sampling == null) {
            throw new IllegalArgumentException("sampling must not be null");
        }
        if (format == null) {
            format = ResponseFormat.TEXT;
        }
        stopStrings = List.copyOf(stopStrings);
        for (String s : stopStrings) {
            if (s.isEmpty()) {
                throw new IllegalArgumentException("stop strings must not be empty");
            }
        }
    }

    /**
     * The same options with another speculation mode.
     *
     * @param mode the mode, or {@code null} for the engine's
     * @return the options
     */
    public GenerationOptions withSpeculation(SpeculationMode mode) {
        return new GenerationOptions(maxNewTokens, sampling, stopStrings, stopAtEos, mode, adaptiveDepth, format);
    }

    /**
     * The same options with another adaptive-depth setting (lossy when enabled).
     *
     * @param depth the setting, or {@code null} for the engine's
     * @return the options
     */
    public GenerationOptions withAdaptiveDepth(AdaptiveDepth depth) {
        return new GenerationOptions(maxNewTokens, sampling, stopStrings, stopAtEos, speculation, depth, format);
    }

    /**
     * The same options with a response-format constraint.
     *
     * @param format the constraint ({@link ResponseFormat#TEXT}: none)
     * @return the options
     */
    public GenerationOptions withFormat(ResponseFormat format) {
        return new GenerationOptions(maxNewTokens, sampling, stopStrings, stopAtEos, speculation, adaptiveDepth, format);
    }

    /**
     * The same options, constrained to JSON matching a schema ({@link ResponseFormat#jsonSchema}).
     *
     * @param schema the JSON schema as JSON text
     * @return the options
     */
    public GenerationOptions withJsonSchema(String schema) {
        return withFormat(ResponseFormat.jsonSchema(schema));
    }

    /**
     * Greedy decoding of up to {@code maxNewTokens} tokens, stopping at EOS.
     *
     * @param maxNewTokens the limit
     * @return the options
     */
    public static GenerationOptions greedy(int maxNewTokens) {
        return new GenerationOptions(maxNewTokens, SamplingOptions.GREEDY, List.of(), true);
    }
}
