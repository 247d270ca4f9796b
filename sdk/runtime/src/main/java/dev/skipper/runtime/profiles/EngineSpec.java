package dev.skipper.runtime.profiles;

import dev.skipper.runtime.spi.DevicePrecision;
import java.util.List;
import java.util.Objects;

/**
 * What an engine is built with: precision, workspace, and the optimization profiles of its dynamic
 * inputs. {@link #describe()} is part of the engine cache key, so two specs that build different
 * engines never share a plan.
 *
 * @param precision the arithmetic the engine may use
 * @param workspaceBytes the builder's workspace pool limit
 * @param profiles optimization profiles, at least one; a context picks one for its life
 */
public record EngineSpec(DevicePrecision precision, long workspaceBytes, List<Profile> profiles) {
    /** Builder workspace limit per engine by default (TensorRT uses what it needs up to this). */
    public static final long DEFAULT_WORKSPACE_BYTES = 256L << 20;

    /** Validates and copies. */
    public EngineSpec {
        Objects.requireNonNull(precision, "precision");
        if (workspaceBytes < 1) {
            throw new IllegalArgumentException("workspace must be at least 1 byte, got " + workspaceBytes);
        }
        profiles = List.copyOf(profiles);
        if (profiles.isEmpty()) {
            throw new IllegalArgumentException("an engine needs at least one optimization profile");
        }
    }

    /**
     * One optimization profile.
     *
     * @param name what it is for ({@code decode}, {@code prefill})
     * @param inputs the range of every dynamic input
     */
    public record Profile(String name, List<InputRange> inputs) {
        /** Copies. */
        public Profile {
            Objects.requireNonNull(name, "name");
            inputs = List.copyOf(inputs);
        }

        /**
         * @param tensor input name
         * @return its range
         * @throws IllegalArgumentException when the profile does not cover it
         */
        public InputRange input(String tensor) {
            for (InputRange r : inputs) {
                if (r.tensor().equals(tensor)) {
                    return r;
                }
            }
            throw new IllegalArgumentException("profile " + name + " has no range for input " + tensor);
        }
    }

    /**
     * The min/opt/max shape of one input in a profile.
     *
     * @param tensor input name
     * @param min smallest shape
     * @param opt the shape kernels are tuned for
     * @param max largest shape
     */
    public record InputRange(String tensor, long[] min, long[] opt, long[] max) {
        /** Validates: equal ranks, min &lt;= opt &lt;= max, no negative dimension. */
        public InputRange {
            Objects.requireNonNull(tensor, "tensor");
            min = min.clone();
            opt = opt.clone();
            max = max.clone();
            if (min.length != opt.length || opt.length != max.length) {
                throw new IllegalArgumentException(tensor + ": min/opt/max ranks differ");
            }
            for (int i = 0; i < min.length; i++) {
                if (min[i] < 0 || min[i] > opt[i] || opt[i] > max[i]) {
                    throw new IllegalArgumentException(tensor + ": dimension " + i + " needs 0 <= min <= opt <= max, got "
                            + min[i] + ", " + opt[i] + ", " + max[i]);
                }
            }
        }

        /**
         * @param dims a shape
         * @return whether it lies within [min, max] in every dimension
         */
        public boolean contains(long[] dims) {
            if (dims.length != min.length) {
                return false;
            }
            for (int i = 0; i < dims.length; i++) {
                if (dims[i] < min[i] || dims[i] > max[i]) {
                    return false;
                }
            }
            return true;
        }

        /** @return {@code tensor:min/opt/max} with dims joined by x */
        public String describe() {
            return tensor + ":" + join(min) + "/" + join(opt) + "/" + join(max);
        }

        private static String join(long[] d) {
            StringBuilder b = new StringBuilder();
            for (int i = 0; i < d.length; i++) {
                b.append(i == 0 ? "" : "x").append(d[i]);
            }
            return b.toString();
        }
    }

    /** @return a canonical one-line description (the cache key part) */
    public String describe() {
        StringBuilder b = new StringBuilder("precision=").append(precision.yamlName())
                .append(";workspace=").append(workspaceBytes);
        for (Profile p : profiles) {
            b.append(";profile ").append(p.name()).append('=');
            for (int i = 0; i < p.inputs().size(); i++) {
                b.append(i == 0 ? "" : ",").append(p.inputs().get(i).describe());
            }
        }
        return b.toString();
    }
}
