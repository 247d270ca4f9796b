package dev.skipper.core.config;

import java.util.Objects;

/**
 * The {@code memory:} section of a deployment file: how the runtime trades resident memory for
 * speed (docs/configuration.md, docs/benchmarks.md#memory).
 *
 * @param cpuArena give every ONNX Runtime session its own CPU arena (default false): the arenas keep
 *     each graph's largest activations for reuse, ~55 MB on SmolLM2 at a 2,048-token context, for no
 *     decode speed measurable on 2 cores; off, buffers go back to the system after each run
 * @param kvCache how host KV caches take their memory (default {@link KvAllocation#GROW})
 */
public record MemorySettings(boolean cpuArena, KvAllocation kvCache) {
    /** Arenas off, KV caches that grow. */
    public static final MemorySettings DEFAULTS = new MemorySettings(false, KvAllocation.GROW);

    /** Validates. */
    public MemorySettings {
        Objects.requireNonNull(kvCache, "kvCache");
    }
}
