package dev.skipper.ort;

import ai.onnxruntime.OrtProvider;
import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;

/**
 * The {@code ort-tensorrt} backend: ONNX Runtime's TensorRT execution provider (CUDA for what it
 * leaves), with the bundle's optimization profiles and an engine cache in
 * {@code <engine cache>/ort-tensorrt}. Standard-flavour bundles only. Found by the service loader;
 * usable in the {@code -Pgpu} build only.
 */
public final class OrtTensorRtBackendProvider extends OrtGpuBackend {
    /** The name deployment files use. */
    public static final String NAME = "ort-tensorrt";

    /** For the service loader. */
    public OrtTensorRtBackendProvider() {
        super(NAME, OrtProvider.TENSOR_RT, GpuSessionSetup.Provider.TENSORRT);
    }

    @Override
    void checkBundle(BundleManifest manifest) throws SkipperException {
        if (manifest.flavour() != BundleManifest.Flavour.STANDARD) {
            throw new SkipperException("the ort-tensorrt backend needs a bundle of the standard flavour (TensorRT has "
                    + "no MatMulNBits or GroupQueryAttention; export with --flavour standard, or use the cuda backend); "
                    + manifest.directory() + " is " + manifest.flavour().yamlName());
        }
    }
}
