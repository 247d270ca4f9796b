package dev.skipper.core.config;

import java.util.Locale;

/** Which execution backend runs the bundle's graphs. A deployment lists one or more, in fallback order. */
public enum BackendChoice {
    /** Let the runtime pick the best backend available on this machine. */
    AUTO,
    /** ONNX Runtime on the CPU. */
    CPU,
    /** ONNX Runtime's CUDA execution provider (NVIDIA GPU; the {@code -Pgpu} build). */
    CUDA,
    /** ONNX Runtime's TensorRT execution provider (NVIDIA GPU; the {@code -Pgpu} build). */
    ORT_TENSORRT,
    /** TensorRT (NVIDIA GPU; wants a bundle of the {@code standard} flavour). */
    TENSORRT;

    /**
     * The spelling in deployment files.
     *
     * @return {@code auto}, {@code cpu}, {@code cuda}, {@code ort-tensorrt} or {@code tensorrt}
     */
    public String yamlName() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }
}
