package dev.skipper.tensorrt;

import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.runtime.DirectBuffers;
import dev.skipper.runtime.spi.BackendOptions;
import dev.skipper.runtime.spi.BackendProvider;
import dev.skipper.runtime.spi.ModelRunner;
import dev.skipper.tensorrt.cuda.CudaTrtNative;
import java.nio.file.Path;
import java.util.Objects;

/**
 * The {@code tensorrt} backend: bundles of the standard flavour as TensorRT engines on an NVIDIA
 * GPU. Found by {@link java.util.ServiceLoader}. Device, precision and engine cache come from the
 * deployment's {@code gpu:} section ({@link BackendOptions#device()}); engines are cached in
 * {@link TrtModelRunner#cacheDir}.
 *
 * <p>Everything above the native calls is the same for every {@link Natives}: the real one
 * ({@link CudaTrtNative}) and the CPU stand-in the tests use.
 */
public class TrtBackendProvider implements BackendProvider {
    /** The name deployment files use. */
    public static final String NAME = "tensorrt";
    private static final System.Logger LOG = System.getLogger("dev.skipper.tensorrt");

    /** Where the native seam comes from. */
    public interface Natives {
        /**
         * @param device the CUDA device index
         * @return why the device cannot run engines, or null; never throws
         */
        String unavailableReason(int device);

        /**
         * @param device the CUDA device index
         * @return the seam over it; the caller closes it
         * @throws SkipperException when the device is not usable
         */
        TrtNative open(int device) throws SkipperException;
    }

    /** The real natives: CUDA and TensorRT through the bytedeco presets. */
    private static final Natives CUDA = new Natives() {
        @Override
        public String unavailableReason(int device) {
            return CudaTrtNative.unavailableReason(device);
        }

        @Override
        public TrtNative open(int device) throws SkipperException {
            return CudaTrtNative.open(device);
        }
    };

    private final String name;
    private final Natives natives;

    /** The real backend (for the service loader). */
    public TrtBackendProvider() {
        this(NAME, CUDA);
    }

    /**
     * A backend over other natives (the tests' CPU stand-in).
     *
     * @param name its name in deployment files
     * @param natives the seam's source
     */
    protected TrtBackendProvider(String name, Natives natives) {
        this.name = Objects.requireNonNull(name, "name");
        this.natives = Objects.requireNonNull(natives, "natives");
    }

    @Override
    public final String name() {
        return name;
    }

    @Override
    public final String unavailableReason() {
        return unavailableReason(BackendOptions.DEFAULTS);
    }

    @Override
    public final String unavailableReason(BackendOptions options) {
        return natives.unavailableReason(options.device().device());
    }

    @Override
    public final String describeDevice(BackendOptions options) {
        if (unavailableReason(options) != null) {
            return null;
        }
        try (TrtNative nat = natives.open(options.device().device())) {
            TrtNative.DeviceInfo d = nat.device();
            return "GPU " + d.ordinal() + ": " + d.name() + ", compute capability " + d.computeCapability() + ", "
                    + DirectBuffers.mib(d.totalBytes()) + " total, " + DirectBuffers.mib(nat.freeDeviceBytes())
                    + " free; TensorRT " + nat.tensorrtVersion();
        } catch (SkipperException | RuntimeException e) {
            return "GPU " + options.device().device() + ": cannot be described (" + e.getMessage() + ")";
        }
    }

    @Override
    public final ModelRunner open(Path bundleDir, BundleManifest manifest, BackendOptions options)
            throws SkipperException {
        return openRunner(manifest, options, (done, total, graph, built) -> {
            if (built) {
                LOG.log(System.Logger.Level.INFO, "built TensorRT engine " + done + "/" + total + " (" + graph + ")");
            }
        });
    }

    /** Builds every missing engine into the cache by opening the bundle once, then closes it again. */
    @Override
    public final Preparation prepare(Path bundleDir, BundleManifest manifest, BackendOptions options, Progress progress)
            throws SkipperException {
        int[] counts = new int[2]; // [items, built]
        try (TrtModelRunner runner = openRunner(manifest, options, (done, total, graph, built) -> {
            counts[0] = total;
            counts[1] += built ? 1 : 0;
            progress.update(done, total, graph, built);
        })) {
            return new Preparation(counts[0], counts[1], cacheDir(manifest, options));
        }
    }

    private TrtModelRunner openRunner(BundleManifest manifest, BackendOptions options, Progress progress)
            throws SkipperException {
        TrtModelRunner.checkBundle(manifest); // before touching the GPU: the bundle's own problem first
        TrtNative nat = natives.open(options.device().device());
        EngineCache cache;
        try {
            cache = new EngineCache(cacheDir(manifest, options), nat.tensorrtVersion(), nat.device(),
                    msg -> LOG.log(System.Logger.Level.WARNING, msg));
        } catch (RuntimeException e) {
            nat.close();
            throw e;
        }
        return TrtModelRunner.open(manifest, nat, cache, options.device().precision(), progress);
    }

    /**
     * Where this backend keeps a bundle's engines.
     *
     * @param manifest the bundle
     * @param options the deployment's settings
     * @return the folder
     */
    protected Path cacheDir(BundleManifest manifest, BackendOptions options) {
        return TrtModelRunner.cacheDir(manifest, options.device().engineCache());
    }
}
