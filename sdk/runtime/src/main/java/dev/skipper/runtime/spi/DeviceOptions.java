package dev.skipper.runtime.spi;

import java.nio.file.Path;
import java.util.Objects;

/**
 * Settings of the GPU backends (YAML section {@code gpu:}); the CPU backend ignores them.
 *
 * @param device the CUDA device index, 0 to {@value #MAX_DEVICE} (which devices are visible at all is
 *     CUDA's {@code CUDA_VISIBLE_DEVICES})
 * @param precision the arithmetic engines may use
 * @param engineCache where built engines are kept, or {@code null} for the backend's default (TensorRT:
 *     the system property {@code skipper.engineCache}, else {@code SKIPPER_ENGINE_CACHE}, else
 *     {@code <bundle>/engines})
 */
public record DeviceOptions(int device, DevicePrecision precision, Path engineCache) {
    /** Largest device index accepted (CUDA numbers devices from 0; no machine has this many). */
    public static final int MAX_DEVICE = 63;

    /** Device 0, the graphs' own precision, the default cache folder. */
    public static final DeviceOptions DEFAULTS = new DeviceOptions(0, DevicePrecision.AUTO, null);

    /** Validates. */
    public DeviceOptions {
        if (device < 0 || device > MAX_DEVICE) {
            throw new IllegalArgumentException("device must be in [0, " + MAX_DEVICE + "], got " + device);
        }
        Objects.requireNonNull(precision, "precision");
    }

    /**
     * Where engines of a bundle are kept: {@link #engineCache()}, else the system property
     * {@code skipper.engineCache}, else the environment's {@code SKIPPER_ENGINE_CACHE}, else
     * {@code <bundle>/engines}.
     *
     * @param bundleDir the bundle directory
     * @return the folder (created when the first engine is stored)
     */
    public Path engineCacheFor(Path bundleDir) {
        if (engineCache != null) {
            return engineCache;
        }
        String env = System.getProperty("skipper.engineCache", System.getenv("SKIPPER_ENGINE_CACHE"));
        return env != null && !env.isBlank() ? Path.of(env) : bundleDir.resolve("engines");
    }
}
