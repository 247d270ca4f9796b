package dev.skipper.tensorrt;

import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.runtime.spi.BackendOptions;
import dev.skipper.runtime.spi.BackendProvider;
import dev.skipper.runtime.spi.ModelRunner;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A test backend {@value #NAME}: the real {@link TrtModelRunner} over the CPU stand-in of its native
 * seam, found by the service loader like the real one, so that engine-level tests (speculation,
 * sessions) run the TensorRT runner through {@code Skipper.open}.
 */
public final class StandInBackendProvider implements BackendProvider {
    /** The backend name tests ask for. */
    public static final String NAME = "tensorrt-standin";

    /** For the service loader. */
    public StandInBackendProvider() {}

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public String unavailableReason() {
        return null;
    }

    @Override
    public ModelRunner open(Path bundleDir, BundleManifest manifest, BackendOptions options) throws SkipperException {
        CpuStandInNative nat = new CpuStandInNative(4L << 30);
        Path dir;
        try {
            dir = Files.createTempDirectory("skipper-standin-engines");
            dir.toFile().deleteOnExit();
        } catch (IOException e) {
            throw new SkipperException("cannot create a temp engine cache: " + e.getMessage(), e);
        }
        EngineCache cache = new EngineCache(dir, nat.tensorrtVersion(), nat.device(), msg -> { });
        return TrtModelRunner.open(manifest, nat, cache, EngineSpec.Precision.AUTO, (d, t, g, b) -> { });
    }
}
