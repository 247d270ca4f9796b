package dev.skipper.ort;

import ai.onnxruntime.OrtEnvironment;
import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.runtime.spi.BackendOptions;
import dev.skipper.runtime.spi.BackendProvider;
import dev.skipper.runtime.spi.ModelRunner;
import java.nio.file.Path;

/**
 * The {@code cpu} backend: runs bundles with ONNX Runtime's CPU execution provider. Found by
 * {@link java.util.ServiceLoader}. Every session of every runner shares one process-wide thread
 * pool, sized by the first {@link BackendOptions} opened (see {@link OrtModelRunner}).
 */
public final class OrtBackendProvider implements BackendProvider {
    /** The name deployment files use. */
    public static final String NAME = "cpu";

    /** Creates the provider (for the service loader). */
    public OrtBackendProvider() {}

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public String unavailableReason() {
        try {
            OrtEnvironment.getAvailableProviders(); // loads the native library
            return null;
        } catch (LinkageError | RuntimeException e) {
            return "ONNX Runtime's native library cannot be loaded on this platform: " + e;
        }
    }

    @Override
    public ModelRunner open(Path bundleDir, BundleManifest manifest, BackendOptions options) throws SkipperException {
        String reason = unavailableReason();
        if (reason != null) {
            throw new SkipperException(reason);
        }
        return OrtModelRunner.open(bundleDir, manifest, SharedEnvironment.acquire(options));
    }
}
