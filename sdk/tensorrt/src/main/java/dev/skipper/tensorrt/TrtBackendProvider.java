package dev.skipper.tensorrt;

import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.runtime.spi.BackendOptions;
import dev.skipper.runtime.spi.BackendProvider;
import dev.skipper.runtime.spi.ModelRunner;
import dev.skipper.tensorrt.cuda.CudaTrtNative;
import java.nio.file.Path;

/**
 * The {@code tensorrt} backend: bundles of the standard flavour as TensorRT engines on an NVIDIA
 * GPU. Found by {@link java.util.ServiceLoader}. The device is {@code SKIPPER_CUDA_DEVICE} (or the
 * system property {@code skipper.cudaDevice}), default 0; engines are cached in
 * {@link TrtModelRunner#defaultCacheDir}.
 */
public final class TrtBackendProvider implements BackendProvider {
    /** The name deployment files use. */
    public static final String NAME = "tensorrt";
    private static final System.Logger LOG = System.getLogger("dev.skipper.tensorrt");

    /** Creates the provider (for the service loader). */
    public TrtBackendProvider() {}

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public String unavailableReason() {
        return CudaTrtNative.unavailableReason(deviceOrdinal());
    }

    @Override
    public ModelRunner open(Path bundleDir, BundleManifest manifest, BackendOptions options) throws SkipperException {
        TrtModelRunner.checkBundle(manifest); // before touching the GPU: the bundle's own problem first
        CudaTrtNative nat = CudaTrtNative.open(deviceOrdinal());
        EngineCache cache = new EngineCache(TrtModelRunner.defaultCacheDir(manifest), nat.tensorrtVersion(),
                nat.device(), msg -> LOG.log(System.Logger.Level.WARNING, msg));
        return TrtModelRunner.open(manifest, nat, cache, EngineSpec.Precision.AUTO, (done, total, graph, built) -> {
            if (built) {
                LOG.log(System.Logger.Level.INFO, "built TensorRT engine " + done + "/" + total + " (" + graph + ")");
            }
        });
    }

    /**
     * @return the CUDA device to use
     * @throws IllegalArgumentException when the setting is not a non-negative integer
     */
    public static int deviceOrdinal() {
        String s = System.getProperty("skipper.cudaDevice", System.getenv("SKIPPER_CUDA_DEVICE"));
        if (s == null || s.isBlank()) {
            return 0;
        }
        try {
            int n = Integer.parseInt(s.trim());
            if (n >= 0) {
                return n;
            }
        } catch (NumberFormatException e) {
            // fall through
        }
        throw new IllegalArgumentException("SKIPPER_CUDA_DEVICE: must be a device index >= 0, got '" + s + "'");
    }
}
