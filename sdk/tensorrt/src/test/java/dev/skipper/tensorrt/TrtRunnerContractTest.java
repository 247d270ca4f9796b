package dev.skipper.tensorrt;

import dev.skipper.bundle.BundleManifest;
import dev.skipper.bundle.BundleManifestReader;
import dev.skipper.runtime.spi.DevicePrecision;
import dev.skipper.runtime.spi.ModelRunner;
import dev.skipper.runtime.spi.ModelRunnerContract;
import dev.skipper.testing.TestData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;

/**
 * The shared {@link ModelRunnerContract} on the TensorRT runner over the CPU stand-in of its native
 * seam: the same rollback, offset, limit and life-cycle checks the cpu backend passes, through the
 * TensorRT runner's own device buffers, bindings and profiles (standard-flavour cases only).
 */
class TrtRunnerContractTest extends ModelRunnerContract {
    private final Map<String, ModelRunner> shared = new HashMap<>();
    private Path cache;

    @Override
    protected List<String> cases() {
        return List.of("tiny-bpe-fp32-standard");
    }

    @Override
    protected String tinyCase() {
        return "tiny-bpe-fp32-standard";
    }

    @Override
    protected synchronized ModelRunner runner(String name) throws Exception {
        ModelRunner r = shared.get(name);
        if (r == null) {
            r = open(name);
            shared.put(name, r);
        }
        return r;
    }

    @Override
    protected ModelRunner open(String name) throws Exception {
        if (cache == null) {
            cache = dev.skipper.testing.TempDirs.forThisJvm("skipper-trt-contract");
        }
        BundleManifest m = BundleManifestReader.read(TestData.bundle(name), true);
        CpuStandInNative nat = new CpuStandInNative(1L << 30);
        return TrtModelRunner.open(m, nat, new EngineCache(cache, nat.tensorrtVersion(), nat.device(), msg -> { }),
                DevicePrecision.AUTO, (d, t, g, b) -> { });
    }

    @AfterAll
    void closeShared() throws Exception {
        for (ModelRunner r : shared.values()) {
            r.close();
        }
        if (cache != null) {
            try (var files = Files.list(cache)) {
                for (Path f : files.toList()) {
                    Files.deleteIfExists(f);
                }
            }
            Files.deleteIfExists(cache);
        }
    }
}
