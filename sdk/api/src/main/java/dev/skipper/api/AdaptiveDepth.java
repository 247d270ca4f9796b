package dev.skipper.api;

/**
 * Lossy adaptive depth (TIDE / CALM style), opt-in and off by default: during decoding a token
 * exits at a calibrated checkpoint layer when that layer's router is confident, and the layers it
 * skipped get its K/V from the exited hidden state (their K/V projections only, never zeros).
 * <strong>Output may differ from the full model's</strong>; prefill always runs every layer.
 *
 * @param enabled whether decoding may exit early
 * @param precision the one quality knob: a checkpoint's router may fire only at thresholds whose
 *     held-out precision (the exit's top-1 equals the full model's) reached this, in [0.5, 1];
 *     lower is faster and less faithful (default {@value #DEFAULT_PRECISION})
 */
public record AdaptiveDepth(boolean enabled, double precision) {
    /** Default of {@link #precision()}. */
    public static final double DEFAULT_PRECISION = 0.97;

    /** Every token runs every layer. */
    public static final AdaptiveDepth OFF = new AdaptiveDepth(false, DEFAULT_PRECISION);

    /** Validates the precision. */
    public AdaptiveDepth {
        if (!(precision >= 0.5 && precision <= 1.0)) {
            throw new IllegalArgumentException("adaptive_depth.precision must be in [0.5, 1], got " + precision);
        }
    }

    /**
     * Adaptive depth on at a precision.
     *
     * @param precision router precision required to exit, in [0.5, 1]
     * @return the setting
     */
    public static AdaptiveDepth lossy(double precision) {
        return new AdaptiveDepth(true, precision);
    }
}
