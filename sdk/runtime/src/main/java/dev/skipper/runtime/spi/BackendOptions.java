package dev.skipper.runtime.spi;

import java.util.Objects;

/**
 * Backend settings from the deployment file or the API.
 *
 * @param intraOpThreads threads per operator (0 = backend default). More than the processors this
 *     process may use ({@link #availableProcessors()}) is capped to them when a bundle is opened, with
 *     one warning: extra threads only wait for each other (2 cores: 3.6 instead of ~160 tok/s at 64)
 *     and a pool of hundreds crashed ONNX Runtime in native code
 * @param allowSpinning let idle worker threads spin (faster, burns CPU; off on shared devices)
 * @param device GPU settings (device index, precision, engine cache); CPU backends ignore them
 * @param cpuArena give each session its own CPU arena (ONNX Runtime's default): keeps the largest
 *     activations of every graph resident for reuse; off (the deployment default), buffers go back to
 *     the system after each run
 * @param growKvCache host KV caches start small and grow with their sequence (the default): resident
 *     memory follows the conversation, not the configured context; false allocates the whole context
 *     when a session opens, so decoding never allocates. Backends whose cache lives in device memory
 *     allocate it whole either way
 */
public record BackendOptions(int intraOpThreads, boolean allowSpinning, DeviceOptions device, boolean cpuArena,
        boolean growKvCache) {
    /** Validates. */
    public BackendOptions {
        if (intraOpThreads < 0) {
            throw new IllegalArgumentException("threads must be >= 0 (0 = default), got " + intraOpThreads);
        }
        Objects.requireNonNull(device, "device");
    }

    /**
     * Settings whose host KV caches grow with their sequence.
     *
     * @param intraOpThreads threads per operator (0 = backend default)
     * @param allowSpinning let idle worker threads spin
     * @param device GPU settings
     * @param cpuArena per-session CPU arenas
     */
    public BackendOptions(int intraOpThreads, boolean allowSpinning, DeviceOptions device, boolean cpuArena) {
        this(intraOpThreads, allowSpinning, device, cpuArena, true);
    }

    /**
     * CPU settings with the default GPU settings.
     *
     * @param intraOpThreads threads per operator (0 = backend default)
     * @param allowSpinning let idle worker threads spin
     */
    public BackendOptions(int intraOpThreads, boolean allowSpinning) {
        this(intraOpThreads, allowSpinning, DeviceOptions.DEFAULTS);
    }

    /**
     * Settings without CPU arenas.
     *
     * @param intraOpThreads threads per operator (0 = backend default)
     * @param allowSpinning let idle worker threads spin
     * @param device GPU settings
     */
    public BackendOptions(int intraOpThreads, boolean allowSpinning, DeviceOptions device) {
        this(intraOpThreads, allowSpinning, device, false);
    }

    /**
     * Defaults: backend's thread count, spinning (a decode step is hundreds of short operators; idle
     * workers that sleep between them make it ~1.6x slower on a 2-core CPU).
     */
    public static final BackendOptions DEFAULTS = new BackendOptions(0, true);

    /**
     * The processors this process may run on: the JVM's count, which honours CPU affinity
     * ({@code taskset}) and container CPU quotas.
     *
     * @return at least 1
     */
    public static int availableProcessors() {
        return Math.max(1, Runtime.getRuntime().availableProcessors());
    }

    /**
     * These options with at most {@code max} threads.
     *
     * @param max the cap, at least 1
     * @return this when {@link #intraOpThreads()} is within it, else a copy with {@code max} threads
     */
    public BackendOptions withThreadsAtMost(int max) {
        if (max < 1) {
            throw new IllegalArgumentException("thread cap must be >= 1, got " + max);
        }
        return intraOpThreads <= max ? this : new BackendOptions(max, allowSpinning, device, cpuArena, growKvCache);
    }
}
