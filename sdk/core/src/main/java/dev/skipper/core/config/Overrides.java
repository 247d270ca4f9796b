package dev.skipper.core.config;

import dev.skipper.api.SpeculationMode;
import dev.skipper.runtime.spi.DevicePrecision;
import java.nio.file.Path;
import java.util.List;

/**
 * Settings that replace a deployment's values: command-line flags, or the parameters of one request.
 * Every component is nullable; {@code null} keeps the value underneath. Apply with
 * {@link DeploymentConfig#withOverrides(Overrides)}, lowest precedence first:
 * {@code fileConfig.withOverrides(cli).withOverrides(request)} gives request &gt; CLI &gt; file &gt;
 * defaults.
 *
 * <p>Each value replaces the one underneath as a whole: {@code stop} replaces the stop list (it is
 * not appended), and setting a sampling parameter does not switch {@code greedy} off by itself: a
 * caller that means "sample" (the CLI given {@code --temperature}, say) also sets
 * {@code greedy(false)}.
 *
 * @param bundle the bundle directory, already resolved by the caller (the CLI resolves it against
 *     the working directory)
 * @param backends backends in fallback order
 * @param threads intra-op threads, 0 = backend default
 * @param allowSpinning let idle worker threads spin
 * @param contextLength context length, 0 = the model's maximum
 * @param maxNewTokens most tokens generated per request
 * @param stop stop strings (replaces the list)
 * @param greedy argmax decoding
 * @param temperature sampling temperature
 * @param topK top-k, 0 = off
 * @param topP top-p, 1 = off
 * @param minP min-p, 0 = off
 * @param repetitionPenalty repetition penalty, 1 = off
 * @param seed random seed
 * @param speculationMode speculative decoding mode
 * @param device the GPU device index ({@code gpu.device})
 * @param precision GPU engine precision ({@code gpu.precision})
 */
public record Overrides(Path bundle, List<BackendChoice> backends, Integer threads, Boolean allowSpinning,
                        Integer contextLength, Integer maxNewTokens, List<String> stop, Boolean greedy,
                        Double temperature, Integer topK, Double topP, Double minP, Double repetitionPenalty,
                        Long seed, SpeculationMode speculationMode, Integer device, DevicePrecision precision) {

    /** Overrides nothing. */
    public static final Overrides NONE = builder().build();

    /** Copies the lists. */
    public Overrides {
        backends = backends == null ? null : List.copyOf(backends);
        stop = stop == null ? null : List.copyOf(stop);
    }

    /**
     * Starts an empty set of overrides.
     *
     * @return a builder with every value unset
     */
    public static Builder builder() {
        return new Builder();
    }

    /** Builds {@link Overrides}; every setter returns the builder. */
    public static final class Builder {
        private Path bundle;
        private List<BackendChoice> backends;
        private Integer threads;
        private Boolean allowSpinning;
        private Integer contextLength;
        private Integer maxNewTokens;
        private List<String> stop;
        private Boolean greedy;
        private Double temperature;
        private Integer topK;
        private Double topP;
        private Double minP;
        private Double repetitionPenalty;
        private Long seed;
        private SpeculationMode speculationMode;
        private Integer device;
        private DevicePrecision precision;

        private Builder() {
        }

        /**
         * Sets the bundle directory.
         *
         * @param v the value, or {@code null} to keep the one underneath
         * @return this builder
         */
        public Builder bundle(Path v) {
            bundle = v;
            return this;
        }

        /**
         * Sets the backends, in fallback order.
         *
         * @param v the value, or {@code null} to keep the one underneath
         * @return this builder
         */
        public Builder backends(List<BackendChoice> v) {
            backends = v;
            return this;
        }

        /**
         * Sets the intra-op thread count.
         *
         * @param v the value, or {@code null} to keep the one underneath
         * @return this builder
         */
        public Builder threads(Integer v) {
            threads = v;
            return this;
        }

        /**
         * Sets whether idle worker threads may spin.
         *
         * @param v the value, or {@code null} to keep the one underneath
         * @return this builder
         */
        public Builder allowSpinning(Boolean v) {
            allowSpinning = v;
            return this;
        }

        /**
         * Sets the context length.
         *
         * @param v the value, or {@code null} to keep the one underneath
         * @return this builder
         */
        public Builder contextLength(Integer v) {
            contextLength = v;
            return this;
        }

        /**
         * Sets the most tokens generated per request.
         *
         * @param v the value, or {@code null} to keep the one underneath
         * @return this builder
         */
        public Builder maxNewTokens(Integer v) {
            maxNewTokens = v;
            return this;
        }

        /**
         * Sets the stop strings (replacing the list).
         *
         * @param v the value, or {@code null} to keep the one underneath
         * @return this builder
         */
        public Builder stop(List<String> v) {
            stop = v;
            return this;
        }

        /**
         * Sets whether decoding is greedy (argmax).
         *
         * @param v the value, or {@code null} to keep the one underneath
         * @return this builder
         */
        public Builder greedy(Boolean v) {
            greedy = v;
            return this;
        }

        /**
         * Sets the sampling temperature.
         *
         * @param v the value, or {@code null} to keep the one underneath
         * @return this builder
         */
        public Builder temperature(Double v) {
            temperature = v;
            return this;
        }

        /**
         * Sets top-k.
         *
         * @param v the value, or {@code null} to keep the one underneath
         * @return this builder
         */
        public Builder topK(Integer v) {
            topK = v;
            return this;
        }

        /**
         * Sets top-p.
         *
         * @param v the value, or {@code null} to keep the one underneath
         * @return this builder
         */
        public Builder topP(Double v) {
            topP = v;
            return this;
        }

        /**
         * Sets min-p.
         *
         * @param v the value, or {@code null} to keep the one underneath
         * @return this builder
         */
        public Builder minP(Double v) {
            minP = v;
            return this;
        }

        /**
         * Sets the repetition penalty.
         *
         * @param v the value, or {@code null} to keep the one underneath
         * @return this builder
         */
        public Builder repetitionPenalty(Double v) {
            repetitionPenalty = v;
            return this;
        }

        /**
         * Sets the random seed.
         *
         * @param v the value, or {@code null} to keep the one underneath
         * @return this builder
         */
        public Builder seed(Long v) {
            seed = v;
            return this;
        }

        /**
         * Sets the speculation mode.
         *
         * @param v the value, or {@code null} to keep the one underneath
         * @return this builder
         */
        public Builder speculationMode(SpeculationMode v) {
            speculationMode = v;
            return this;
        }

        /**
         * Sets the GPU device index.
         *
         * @param v the value, or {@code null} to keep the one underneath
         * @return this builder
         */
        public Builder device(Integer v) {
            device = v;
            return this;
        }

        /**
         * Sets the GPU engine precision.
         *
         * @param v the value, or {@code null} to keep the one underneath
         * @return this builder
         */
        public Builder precision(DevicePrecision v) {
            precision = v;
            return this;
        }

        /**
         * Builds the overrides.
         *
         * @return the overrides
         */
        public Overrides build() {
            return new Overrides(bundle, backends, threads, allowSpinning, contextLength, maxNewTokens, stop,
                    greedy, temperature, topK, topP, minP, repetitionPenalty, seed, speculationMode, device, precision);
        }
    }
}
