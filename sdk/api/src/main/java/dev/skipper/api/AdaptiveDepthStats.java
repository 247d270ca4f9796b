package dev.skipper.api;

/**
 * What lossy adaptive depth did in one generation ({@link AdaptiveDepth}).
 *
 * @param tokens decode steps that ran with adaptive depth
 * @param exited of which exited before the last layer
 * @param layersPerToken decoder layers run per step (K/V-only fills not counted)
 */
public record AdaptiveDepthStats(long tokens, long exited, double layersPerToken) {
    /** Adaptive depth was off. */
    public static final AdaptiveDepthStats NONE = new AdaptiveDepthStats(0, 0, 0);

    /** @return exited / tokens, or 0 */
    public double exitRate() {
        return tokens == 0 ? 0 : (double) exited / tokens;
    }
}
