package dev.skipper.tensorrt;

import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.runtime.spi.BackendOptions;
import java.nio.file.Path;

/**
 * A test backend {@value #NAME}: the real {@link TrtBackendProvider} and {@link TrtModelRunner} over
 * the CPU stand-in of the native seam, found by the service loader like the real one, so that
 * engine-level tests (speculation, sessions, the CLI's build-engines and gpu-check) run the TensorRT
 * code through {@code Skipper.open}. Without a configured engine cache its engines go to a fresh
 * temp folder per open (never into the shared test bundles).
 */
public class StandInBackendProvider extends TrtBackendProvider {
    /** The backend name tests ask for. */
    public static final String NAME = "tensorrt-standin";
    /** Device memory the stand-in reports. */
    static final long DEVICE_BYTES = 4L << 30;

    /** For the service loader. */
    public StandInBackendProvider() {
        this(NAME, false);
    }

    /**
     * @param name the backend's name
     * @param faulty whether the stand-in returns wrong logits ({@link CpuStandInNative#CpuStandInNative(long, boolean)})
     */
    StandInBackendProvider(String name, boolean faulty) {
        super(name, new Natives() {
            @Override
            public String unavailableReason(int device) {
                return device == 0 ? null : "CUDA device " + device + " does not exist (1 visible)";
            }

            @Override
            public TrtNative open(int device) throws SkipperException {
                String reason = unavailableReason(device);
                if (reason != null) {
                    throw new SkipperException(reason);
                }
                return new CpuStandInNative(DEVICE_BYTES, faulty);
            }
        });
    }

    @Override
    protected Path cacheDir(BundleManifest manifest, BackendOptions options) {
        if (options.device().engineCache() != null) {
            return options.device().engineCache();
        }
        return dev.skipper.testing.TempDirs.forThisJvm("skipper-standin-engines");
    }

    /** {@value #FAULTY}: the stand-in with wrong logits, so that tests can see gpu-check fail. */
    public static final class Faulty extends StandInBackendProvider {
        /** The backend name. */
        public static final String FAULTY = "tensorrt-standin-faulty";

        /** For the service loader. */
        public Faulty() {
            super(FAULTY, true);
        }
    }
}
