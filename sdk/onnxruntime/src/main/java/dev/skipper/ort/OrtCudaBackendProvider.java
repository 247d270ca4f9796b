package dev.skipper.ort;

import ai.onnxruntime.OrtProvider;

/**
 * The {@code cuda} backend: ONNX Runtime's CUDA execution provider on every graph (either bundle
 * flavour; ONNX Runtime puts nodes the provider lacks on the CPU). Found by the service loader;
 * usable in the {@code -Pgpu} build only.
 */
public final class OrtCudaBackendProvider extends OrtGpuBackend {
    /** The name deployment files use. */
    public static final String NAME = "cuda";

    /** For the service loader. */
    public OrtCudaBackendProvider() {
        super(NAME, OrtProvider.CUDA, GpuSessionSetup.Provider.CUDA);
    }
}
