package dev.skipper.cli;

import dev.skipper.core.config.Overrides;
import dev.skipper.runtime.spi.DevicePrecision;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

/** {@code --device} and {@code --precision}: the GPU settings of build-engines and gpu-check. */
final class DeviceFlags {
    @Option(names = "--device", paramLabel = "N", order = 20,
            description = "CUDA device index (default: the file's gpu.device, else 0).")
    Integer device;

    @Option(names = "--precision", paramLabel = "P", order = 21,
            description = "Engine arithmetic: auto (the bundle's own types; fp32 with TF32 off for a float32 bundle) "
                    + "or fp16 (default: the file's gpu.precision, else auto). int8/int4 are refused: there is no "
                    + "symmetric-quantized standard bundle yet.")
    String precision;

    /**
     * Adds these flags to the overrides.
     *
     * @param spec the command, for usage errors
     * @param b the overrides being built
     * @param defaultPrecision used when {@code --precision} is not given, or null to keep the file's
     */
    void addTo(CommandSpec spec, Overrides.Builder b, DevicePrecision defaultPrecision) {
        b.device(device);
        if (precision != null) {
            try {
                b.precision(DevicePrecision.parse(precision));
            } catch (IllegalArgumentException e) {
                throw new ParameterException(spec.commandLine(), "--precision: " + e.getMessage());
            }
        } else {
            b.precision(defaultPrecision);
        }
    }
}
