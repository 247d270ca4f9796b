package dev.skipper.runtime.spi;

import java.util.Locale;

/** Arithmetic a GPU backend may use for a bundle's graphs (YAML {@code gpu.precision}, {@code --precision}). */
public enum DevicePrecision {
    /** The graph's own types: a float32 bundle runs in fp32 (TF32 off), a float16 bundle in fp16. */
    AUTO,
    /** Allow fp16 kernels for a float32 graph (TensorRT's kFP16 builder flag). */
    FP16;

    /**
     * @param text {@code auto} or {@code fp16} (case-insensitive)
     * @return the precision
     * @throws IllegalArgumentException naming what is accepted; int8/int4 are refused with the reason
     */
    public static DevicePrecision parse(String text) {
        String t = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
        switch (t) {
            case "auto":
                return AUTO;
            case "fp16":
                return FP16;
            case "int8":
            case "int4":
                throw new IllegalArgumentException(t + ": quantized GPU engines need a symmetric-"
                        + "quantized standard bundle, which the exporter does not write yet; use auto or fp16");
            default:
                throw new IllegalArgumentException("must be auto or fp16, got '" + text + "'");
        }
    }

    /** @return the lower-case name used in YAML and on the command line */
    public String yamlName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
