package dev.skipper.core.config;

import dev.skipper.api.AdaptiveDepth;
import dev.skipper.api.SpeculationMode;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * Speculative (draft-and-verify) decoding settings. Parsed and validated with the deployment;
 * values that depend on the model (an exit layer below its layer count, skipped layers that exist)
 * are checked when a session opens the bundle.
 *
 * @param mode how drafts are made (default {@link SpeculationMode#OFF})
 * @param exitLayer for {@link SpeculationMode#EARLY_EXIT}: drafts run layers {@code 0 .. exitLayer-1} then the
 *     head; at least 1, or {@code null} to let the session choose (default)
 * @param maxDraftTokens most tokens drafted per round, 1 to {@value #MAX_DRAFT_TOKENS_LIMIT}
 *     (default {@value #DEFAULT_MAX_DRAFT_TOKENS})
 * @param confidenceThreshold drafting stops early when the draft's top probability falls below this,
 *     in [0, 1]; 0 never stops early (default {@value #DEFAULT_CONFIDENCE_THRESHOLD})
 * @param skipLayers for {@link SpeculationMode#LAYER_SKIP}: layer indices (from 0) the draft skips, distinct,
 *     ascending, non-empty; or {@code null} to let the session choose (default)
 * @param ngramSize for {@link SpeculationMode#NGRAM}: length of the n-gram looked up in the prompt and the
 *     text so far, 1 to {@value #MAX_NGRAM_SIZE} (default {@value #DEFAULT_NGRAM_SIZE})
 * @param adaptive choose the draft length online and switch speculation off for a session where it
 *     measures slower than plain decoding (default true); false drafts up to maxDraftTokens every round
 * @param adaptiveDepth LOSSY adaptive depth of plain decode steps (YAML top-level {@code adaptive_depth};
 *     default {@link AdaptiveDepth#OFF}); carried here because it is the other decode-strategy setting
 */
public record SpeculationConfig(SpeculationMode mode, Integer exitLayer, int maxDraftTokens, double confidenceThreshold,
                                List<Integer> skipLayers, int ngramSize, boolean adaptive, AdaptiveDepth adaptiveDepth) {

    /**
     * Settings without adaptive depth.
     *
     * @param mode how drafts are made
     * @param exitLayer early-exit layer, or null
     * @param maxDraftTokens most drafts per round
     * @param confidenceThreshold stop drafting below this confidence
     * @param skipLayers the draft skip set, or null
     * @param ngramSize prompt-lookup n-gram length
     * @param adaptive adapt the draft length online
     */
    public SpeculationConfig(SpeculationMode mode, Integer exitLayer, int maxDraftTokens, double confidenceThreshold,
                             List<Integer> skipLayers, int ngramSize, boolean adaptive) {
        this(mode, exitLayer, maxDraftTokens, confidenceThreshold, skipLayers, ngramSize, adaptive, AdaptiveDepth.OFF);
    }

    /** Default of {@link #maxDraftTokens()}. */
    public static final int DEFAULT_MAX_DRAFT_TOKENS = 4;
    /** Largest {@link #maxDraftTokens()}. */
    public static final int MAX_DRAFT_TOKENS_LIMIT = 64;
    /** Default of {@link #confidenceThreshold()} (Draft &amp; Verify / SWIFT use 0.8 for greedy drafts). */
    public static final double DEFAULT_CONFIDENCE_THRESHOLD = 0.8;
    /** Default of {@link #ngramSize()}. */
    public static final int DEFAULT_NGRAM_SIZE = 3;
    /** Largest {@link #ngramSize()}. */
    public static final int MAX_NGRAM_SIZE = 16;
    /** Largest layer index or exit layer accepted before the model is known (a guard against typos). */
    public static final int MAX_LAYER = 4096;

    /** Speculation off, every other value at its default. */
    public static final SpeculationConfig OFF = new SpeculationConfig(SpeculationMode.OFF, null, DEFAULT_MAX_DRAFT_TOKENS,
            DEFAULT_CONFIDENCE_THRESHOLD, null, DEFAULT_NGRAM_SIZE, true);

    /** Validates; sorts and copies {@code skipLayers}. */
    public SpeculationConfig {
        Objects.requireNonNull(mode, "mode");
        Objects.requireNonNull(adaptiveDepth, "adaptiveDepth");
        if (exitLayer != null && (exitLayer < 1 || exitLayer > MAX_LAYER)) {
            throw new IllegalArgumentException("exit_layer must be in [1, " + MAX_LAYER + "], got " + exitLayer);
        }
        if (maxDraftTokens < 1 || maxDraftTokens > MAX_DRAFT_TOKENS_LIMIT) {
            throw new IllegalArgumentException("max_draft_tokens must be in [1, " + MAX_DRAFT_TOKENS_LIMIT
                    + "], got " + maxDraftTokens);
        }
        if (!(confidenceThreshold >= 0 && confidenceThreshold <= 1)) {
            throw new IllegalArgumentException("confidence_threshold must be in [0, 1], got " + confidenceThreshold);
        }
        if (skipLayers != null) {
            List<Integer> sorted = new ArrayList<>(skipLayers);
            Collections.sort(sorted);
            if (sorted.isEmpty()) {
                throw new IllegalArgumentException("skip_layers must not be empty (leave it out to let the session choose)");
            }
            for (int i = 0; i < sorted.size(); i++) {
                int layer = sorted.get(i);
                if (layer < 0 || layer >= MAX_LAYER) {
                    throw new IllegalArgumentException("skip_layers entries must be in [0, " + (MAX_LAYER - 1)
                            + "], got " + layer);
                }
                if (i > 0 && sorted.get(i - 1) == layer) {
                    throw new IllegalArgumentException("skip_layers lists layer " + layer + " twice");
                }
            }
            skipLayers = List.copyOf(sorted);
        }
        if (ngramSize < 1 || ngramSize > MAX_NGRAM_SIZE) {
            throw new IllegalArgumentException("ngram_size must be in [1, " + MAX_NGRAM_SIZE + "], got " + ngramSize);
        }
    }

    /**
     * The same settings with another mode.
     *
     * @param newMode the mode
     * @return the copy
     */
    public SpeculationConfig withMode(SpeculationMode newMode) {
        return new SpeculationConfig(newMode, exitLayer, maxDraftTokens, confidenceThreshold, skipLayers, ngramSize,
                adaptive, adaptiveDepth);
    }

    /**
     * Settings without the online adaptation: every round drafts up to {@code maxDraftTokens}
     * (stopping only at the confidence threshold) and speculation never switches itself off.
     * For benchmarks of fixed settings and tests that must exercise rejection.
     *
     * @return the settings
     */
    public SpeculationConfig fixed() {
        return new SpeculationConfig(mode, exitLayer, maxDraftTokens, confidenceThreshold, skipLayers, ngramSize,
                false, adaptiveDepth);
    }

    /**
     * The same settings with another adaptive-depth setting.
     *
     * @param depth the setting
     * @return the copy
     */
    public SpeculationConfig withAdaptiveDepth(AdaptiveDepth depth) {
        return new SpeculationConfig(mode, exitLayer, maxDraftTokens, confidenceThreshold, skipLayers, ngramSize,
                adaptive, depth);
    }

}
