package dev.skipper.ort;

import dev.skipper.runtime.spi.BackendProvider;
import dev.skipper.runtime.spi.HiddenStates;
import dev.skipper.runtime.spi.KvCache;
import dev.skipper.runtime.spi.ModelRunner;
import dev.skipper.runtime.spi.ModelRunnerContract;
import dev.skipper.testing.Goldens;
import dev.skipper.testing.TestData;
import java.nio.file.Path;
import java.util.List;
import java.util.ServiceLoader;
import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shared {@link ModelRunnerContract} on the cpu backend (every golden case, both flavours), and
 * what only this backend has: the service loader's provider, float16 bundles.
 */
class RunnerContractTest extends ModelRunnerContract {
    @Override
    protected List<String> cases() {
        return TestCases.GOLDEN_CASES;
    }

    /** Also the default recipe's int8-activation case (no goldens, a trained drafter). */
    @Override
    protected List<String> featureDrafterCases() {
        List<String> all = new java.util.ArrayList<>(TestCases.GOLDEN_CASES);
        all.add("tiny-spm-int4-int8");
        return all;
    }

    @Override
    protected String tinyCase() {
        return "tiny-bpe-fp32";
    }

    @Override
    protected ModelRunner runner(String name) throws Exception {
        return TestCases.runner(name);
    }

    @Override
    protected ModelRunner open(String name) throws Exception {
        return TestCases.open(TestCases.caseDir(name).resolve("bundle"));
    }

    @Test
    void theServiceLoaderFindsTheCpuBackend() {
        BackendProvider cpu = ServiceLoader.load(BackendProvider.class).stream()
                .map(ServiceLoader.Provider::get)
                .filter(p -> p.name().equals("cpu"))
                .findFirst()
                .orElseThrow();
        assertEquals(OrtBackendProvider.class, cpu.getClass());
        assertNull(cpu.unavailableReason());
    }

    /**
     * A float16 bundle of the tiny model ({@code tiny-bpe-fp16-standard}: {@code goldens} exports it
     * with {@code --flavour standard --weights fp16}) against its float32 twin.
     */
    @Test
    void float16BundleTracksTheFloat32One() throws Exception {
        Path fp16Bundle = TestData.bundle("tiny-bpe-fp16-standard");
        OrtModelRunner fp32 = TestCases.runner(tinyCase());
        Goldens g = TestCases.goldens(tinyCase());
        int vocab = g.vocabSize();
        int[] ids = java.util.Arrays.copyOf(g.teacherIds(), 64);
        try (OrtModelRunner half = TestCases.open(fp16Bundle)) {
            assertTrue(half.manifest().weights().activations() == dev.skipper.bundle.BundleManifest.DType.FLOAT16);
            float[] a;
            float[] b;
            try (KvCache kv = fp32.newKvCache(ids.length); HiddenStates hs = fp32.newHiddenStates(ids.length)) {
                a = TestCases.forward(fp32, hs, kv, ids, 0, ids.length, true);
            }
            try (KvCache kv = half.newKvCache(ids.length); HiddenStates hs = half.newHiddenStates(ids.length)) {
                b = TestCases.forward(half, hs, kv, ids, 0, 32, true);
                float[] rest = TestCases.forward(half, hs, kv, ids, 32, 32, true);
                b = concat(b, rest);
                assertTrue(Float.isFinite(hs.read(0, 1)[0]));
                assertNotEquals(0, sumAbs(((OrtKvCache) kv).read(0, false, 40, 1)));
            }
            int agree = 0;
            for (int i = 0; i < ids.length; i++) {
                if (TestCases.argmax(a, i * vocab, (i + 1) * vocab) == TestCases.argmax(b, i * vocab, (i + 1) * vocab)) {
                    agree++;
                }
            }
            System.out.printf("fp16 vs fp32: max |logit diff| %.3g, argmax agreement %d/%d%n", maxAbsDiff(a, b), agree,
                    ids.length);
            assertTrue(agree >= ids.length * 0.95, "fp16 argmax agreement " + agree + "/" + ids.length);
            assertTrue(maxAbsDiff(a, b) < 0.5f, "fp16 logits differ by " + maxAbsDiff(a, b));
        }
    }

    private static float[] concat(float[] a, float[] b) {
        float[] c = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }
}
