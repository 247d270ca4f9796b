package dev.skipper.api;

/**
 * How the next token is chosen. {@link #greedy()} picks the argmax; otherwise logits are divided by
 * the temperature, filtered by top-k, top-p and min-p, and sampled with a generator seeded by
 * {@code seed} (same seed, same output).
 *
 * @param greedy argmax decoding (all other fields but repetitionPenalty are ignored)
 * @param temperature &gt; 0
 * @param topK keep the k most likely tokens; 0 = off
 * @param topP keep the smallest set with cumulative probability &gt;= topP; 1 = off
 * @param minP drop tokens with probability &lt; minP * max probability; 0 = off
 * @param repetitionPenalty &gt;= 1; 1 = off (CTRL-style: positive logits divided, negative multiplied)
 * @param seed random seed
 */
public record SamplingOptions(boolean greedy, double temperature, int topK, double topP, double minP,
                              double repetitionPenalty, long seed) {

    /** Greedy decoding, no penalty. */
    public static final SamplingOptions GREEDY = new SamplingOptions(true, 1.0, 0, 1.0, 0.0, 1.0, 0L);

    /** Validates every field; the message names the field and the allowed range. */
    public SamplingOptions {
        if (!(temperature > 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be > 0, got " + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("top_k must be >= 0 (0 = off), got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        }
        if (!(minP >= 0 && minP < 1)) {
            throw new IllegalArgumentException("min_p must be in [0, 1), got " + minP);
        }
        if (!(repetitionPenalty >= 1) || Double.isInfinite(repetitionPenalty)) {
            throw new IllegalArgumentException("repetition_penalty must be >= 1 (1 = off), got " + repetitionPenalty);
        }
    }

    /**
     * Random sampling with the given temperature and seed, no filters.
     *
     * @param temperature &gt; 0
     * @param seed random seed
     * @return the options
     */
    public static SamplingOptions sample(double temperature, long seed) {
        return new SamplingOptions(false, temperature, 0, 1.0, 0.0, 1.0, seed);
    }
}
