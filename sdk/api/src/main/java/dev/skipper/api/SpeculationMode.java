package dev.skipper.api;

import java.util.Locale;

/**
 * How a request drafts tokens for self-speculative decoding. Every mode except {@link #OFF} is
 * lossless: greedy output is token-for-token what plain decoding gives, and sampling keeps its
 * exact distribution (rejection sampling).
 */
public enum SpeculationMode {
    /** Plain decoding: one full forward pass per token. */
    OFF,
    /**
     * Prompt lookup when the recent tokens occur earlier in the sequence, otherwise the trained
     * feature drafter when the bundle has one and calibration estimates that it pays, and layer
     * drafting (the calibrated exit head, skip set or early exit, when the bundle or configuration
     * gives one and calibration estimates that it pays); draft length adapted online, and switched off
     * for the session when measured slower than plain decoding.
     */
    AUTO,
    /**
     * Draft with the first {@code exit_layer} layers through the final norm and LM head
     * (training-free; LayerSkip style).
     */
    EARLY_EXIT,
    /**
     * Draft with the first {@code exit_layer} layers through the bundle's calibrated exit head: an
     * adapter, a reduced draft vocabulary and a router that stops drafting ({@code skipper calibrate}).
     */
    EXIT_HEAD,
    /** Draft with every layer except a skip set. */
    LAYER_SKIP,
    /**
     * Draft with the bundle's trained feature drafter (EAGLE-style: one layer over the model's own
     * last-layer features, {@code skipper calibrate}); runs no model layer while drafting.
     */
    FEATURE,
    /** Prompt lookup: copy the continuation of an earlier occurrence of the last n tokens. */
    NGRAM;

    /** @return the YAML and CLI spelling, for example {@code early-exit} */
    public String yamlName() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /**
     * Parses the YAML and CLI spelling.
     *
     * @param name for example {@code layer-skip}
     * @return the mode
     * @throws IllegalArgumentException naming the choices if {@code name} is none of them
     */
    public static SpeculationMode parse(String name) {
        for (SpeculationMode m : values()) {
            if (m.yamlName().equals(name)) {
                return m;
            }
        }
        StringBuilder choices = new StringBuilder();
        for (SpeculationMode m : values()) {
            choices.append(choices.length() == 0 ? "" : ", ").append(m.yamlName());
        }
        throw new IllegalArgumentException("unknown speculation mode '" + name + "' (choose " + choices + ")");
    }
}
