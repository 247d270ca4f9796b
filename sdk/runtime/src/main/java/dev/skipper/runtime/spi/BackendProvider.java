package dev.skipper.runtime.spi;

import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import java.nio.file.Path;

/**
 * A backend found with {@link java.util.ServiceLoader} ({@code META-INF/services/dev.skipper.runtime.spi.BackendProvider}),
 * so a CPU deployment never loads GPU classes.
 */
public interface BackendProvider {
    /** @return the name used in deployment files: {@code cpu}, {@code cuda}, {@code tensorrt} */
    String name();

    /**
     * @return {@code null} if this backend can run here, else one line saying why not (used for
     *     the fallback warning)
     */
    String unavailableReason();

    /**
     * Like {@link #unavailableReason()}, for the device these options select.
     *
     * @param options backend settings
     * @return {@code null} if this backend can run here, else one line saying why not
     */
    default String unavailableReason(BackendOptions options) {
        return unavailableReason();
    }

    /**
     * @param bundleDir the bundle directory
     * @param manifest its validated manifest
     * @param options backend settings
     * @return a runner over the bundle's graphs
     * @throws SkipperException if the bundle cannot be loaded by this backend
     */
    ModelRunner open(Path bundleDir, BundleManifest manifest, BackendOptions options) throws SkipperException;

    /**
     * One line about the device this backend would run on (GPU name, compute capability, memory,
     * library versions), for {@code gpu-check} and logs.
     *
     * @param options backend settings (which device)
     * @return the line, or {@code null} when there is nothing to say (the CPU backend) or the backend is
     *     unavailable
     */
    default String describeDevice(BackendOptions options) {
        return null;
    }

    /**
     * Does ahead of time what {@link #open} would otherwise do on first use, and keeps it (TensorRT:
     * build every engine of the bundle into the engine cache). Backends with nothing to prepare return
     * {@link Preparation#NOTHING}.
     *
     * @param bundleDir the bundle directory
     * @param manifest its validated manifest
     * @param options backend settings (device, precision, cache folder)
     * @param progress told after each item
     * @return what was prepared
     * @throws SkipperException if the bundle cannot be prepared by this backend
     */
    default Preparation prepare(Path bundleDir, BundleManifest manifest, BackendOptions options, Progress progress)
            throws SkipperException {
        return Preparation.NOTHING;
    }

    /** Progress of {@link #prepare}. */
    @FunctionalInterface
    interface Progress {
        /**
         * @param done items finished so far, 1..total
         * @param total items in all
         * @param item what was just finished (a graph file name)
         * @param built true when it was made now, false when a valid one was already kept
         */
        void update(int done, int total, String item, boolean built);
    }

    /**
     * What {@link #prepare} did.
     *
     * @param items items the bundle needs (engines)
     * @param built how many of them were made now (the rest were kept from before)
     * @param directory where they are kept, or {@code null} when there is nothing to keep
     */
    record Preparation(int items, int built, Path directory) {
        /** A backend with nothing to prepare. */
        public static final Preparation NOTHING = new Preparation(0, 0, null);
    }
}
