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
     * @param bundleDir the bundle directory
     * @param manifest its validated manifest
     * @param options backend settings
     * @return a runner over the bundle's graphs
     * @throws SkipperException if the bundle cannot be loaded by this backend
     */
    ModelRunner open(Path bundleDir, BundleManifest manifest, BackendOptions options) throws SkipperException;
}
