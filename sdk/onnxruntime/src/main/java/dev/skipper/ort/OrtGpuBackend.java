package dev.skipper.ort;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.runtime.spi.BackendOptions;
import dev.skipper.runtime.spi.BackendProvider;
import dev.skipper.runtime.spi.ModelRunner;
import java.nio.file.Path;
import java.util.EnumSet;

/**
 * The ONNX Runtime GPU backends ({@code cuda}, {@code ort-tensorrt}): the cpu backend's runner with a
 * GPU execution provider on every session. They run only in the {@code -Pgpu} build, whose
 * {@code onnxruntime_gpu} jar has the providers (x86-64 Linux and Windows; there is no aarch64 GPU
 * jar, so a Jetson uses the {@code tensorrt} backend); the default build says so in one line.
 */
abstract class OrtGpuBackend implements BackendProvider {
    private final String name;
    private final OrtProvider provider;
    private final GpuSessionSetup.Provider setup;

    OrtGpuBackend(String name, OrtProvider provider, GpuSessionSetup.Provider setup) {
        this.name = name;
        this.provider = provider;
        this.setup = setup;
    }

    @Override
    public final String name() {
        return name;
    }

    @Override
    public final String unavailableReason() {
        return unavailableReason(BackendOptions.DEFAULTS);
    }

    /**
     * Whether this build has the provider, and whether the provider's library loads here (it links
     * CUDA 12, cuBLAS and cuDNN 9: a machine without them fails at this point, in one line).
     */
    @Override
    public final String unavailableReason(BackendOptions options) {
        try {
            String missing = reason(OrtEnvironment.getAvailableProviders(), provider, name);
            if (missing != null) {
                return missing;
            }
            SharedEnvironment.acquire(options); // the provider needs the environment's logger
            try (GpuSessionSetup probe = new GpuSessionSetup(setup, options.device(), null);
                 OrtSession.SessionOptions so = new OrtSession.SessionOptions()) {
                probe.appendProvidersOnly(so);
            }
            return null;
        } catch (OrtException e) {
            return "ONNX Runtime's " + provider.getName() + " cannot be loaded: " + loadError(e.getMessage());
        } catch (SkipperException | LinkageError | RuntimeException e) {
            return "ONNX Runtime's native library cannot be loaded on this platform: " + e.getMessage();
        }
    }

    /** The useful end of a provider-library load failure ("libcublasLt.so.12: cannot open shared object file"). */
    static String loadError(String message) {
        String m = message == null ? "" : message.strip();
        int at = m.lastIndexOf("with error: ");
        String tail = at >= 0 ? m.substring(at + "with error: ".length()) : m;
        int nl = tail.indexOf('\n');
        tail = nl >= 0 ? tail.substring(0, nl) : tail;
        return (tail.length() > 300 ? tail.substring(0, 300) + "..." : tail)
                + (tail.contains(".so.12") ? " (install CUDA 12 and cuDNN 9 for onnxruntime_gpu " + "1.29)" : "");
    }

    /** Why a build with these providers cannot run the backend, or null. */
    static String reason(EnumSet<OrtProvider> available, OrtProvider needed, String backend) {
        if (available.contains(needed)) {
            return null;
        }
        return "this build has ONNX Runtime without the " + needed.getName() + " (the default CPU-only onnxruntime jar); "
                + "the " + backend + " backend needs onnxruntime_gpu: build with mvn -Pgpu, or SKIPPER_MAVEN_PROFILES=gpu ./skipper (x86-64 Linux/Windows, "
                + "CUDA 12 and cuDNN 9 installed)";
    }

    /**
     * @param manifest the bundle
     * @throws SkipperException when this backend cannot run the bundle's flavour
     */
    void checkBundle(BundleManifest manifest) throws SkipperException {
    }

    @Override
    public final ModelRunner open(Path bundleDir, BundleManifest manifest, BackendOptions options) throws SkipperException {
        checkBundle(manifest);
        String reason = unavailableReason();
        if (reason != null) {
            throw new SkipperException(reason);
        }
        return OrtModelRunner.open(bundleDir, manifest, SharedEnvironment.acquire(options),
                new GpuSessionSetup(setup, options.device(), manifest));
    }
}
