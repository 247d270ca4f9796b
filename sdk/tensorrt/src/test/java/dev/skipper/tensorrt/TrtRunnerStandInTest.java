package dev.skipper.tensorrt;

import dev.skipper.runtime.profiles.ProfilePlan;
import dev.skipper.runtime.spi.DevicePrecision;
import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.bundle.BundleManifestReader;
import dev.skipper.ort.OrtBackendProvider;
import dev.skipper.runtime.spi.BackendOptions;
import dev.skipper.runtime.spi.HiddenStates;
import dev.skipper.runtime.spi.KvCache;
import dev.skipper.runtime.spi.ModelRunner;
import static dev.skipper.runtime.spi.ModelRunnerContract.forward;
import static dev.skipper.runtime.spi.ModelRunnerContract.maxAbsDiff;
import static dev.skipper.runtime.spi.ModelRunnerContract.tolerance;
import dev.skipper.testing.Goldens;
import dev.skipper.testing.TestData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The TensorRT runner's buffer management, offsets, profiles, chunking and engine cache, run
 * through the CPU stand-in of its native seam on the standard-flavour test bundle, against the
 * goldens and the ONNX Runtime runner (the SPI contract, rollback included: {@link TrtRunnerContractTest}).
 */
class TrtRunnerStandInTest {
    private static final String CASE = "tiny-bpe-fp32-standard";

    @TempDir
    Path cacheDir;

    private final List<String> log = new ArrayList<>();

    private TrtModelRunner open(CpuStandInNative nat) throws Exception {
        BundleManifest m = BundleManifestReader.read(TestData.bundle(CASE), true);
        EngineCache cache = new EngineCache(cacheDir, nat.tensorrtVersion(), nat.device(), log::add);
        return TrtModelRunner.open(m, nat, cache, DevicePrecision.AUTO, (d, t, g, b) -> { });
    }

    private static int argmax(float[] a) {
        int best = 0;
        for (int i = 1; i < a.length; i++) {
            if (a[i] > a[best]) {
                best = i;
            }
        }
        return best;
    }

    @Test
    void greedyMatchesTheGoldensAndLogitsMatchTheCpuBackend() throws Exception {
        Goldens g = TestData.goldens(CASE);
        BundleManifest m = BundleManifestReader.read(TestData.bundle(CASE), true);
        try (TrtModelRunner trt = open(new CpuStandInNative(1L << 30));
             ModelRunner ort = new OrtBackendProvider().open(m.directory(), m, BackendOptions.DEFAULTS)) {
            for (Goldens.Prompt p : g.prompts()) {
                int n = p.greedy().length;
                int[] got = new int[n];
                try (KvCache kv = trt.newKvCache(p.ids().length + n); HiddenStates hs = trt.newHiddenStates(p.ids().length);
                     KvCache kv2 = ort.newKvCache(p.ids().length + n); HiddenStates hs2 = ort.newHiddenStates(p.ids().length)) {
                    int[] in = p.ids();
                    for (int i = 0; i < n; i++) {
                        float[] a = forward(trt, hs, kv, in, 0, in.length, false);
                        float[] b = forward(ort, hs2, kv2, in, 0, in.length, false);
                        assertTrue(maxAbsDiff(a, b) <= tolerance(b), "step " + i + ": " + maxAbsDiff(a, b));
                        got[i] = argmax(a);
                        in = new int[] {got[i]};
                    }
                }
                assertArrayEquals(p.greedy(), got, p.text());
            }
        }
    }

    @Test
    void aCallLongerThanAProfileRunsInChunksWithTheSameResult() throws Exception {
        BundleManifest m = BundleManifestReader.read(TestData.bundle(CASE), true);
        int len = Math.min(m.model().maxPosition(), ProfilePlan.DEFAULT_PREFILL_ROWS + 30);
        int[] tokens = new int[len];
        for (int i = 0; i < len; i++) {
            tokens[i] = (i * 37 + 11) % m.model().vocabSize();
        }
        try (TrtModelRunner trt = open(new CpuStandInNative(1L << 30));
             ModelRunner ort = new OrtBackendProvider().open(m.directory(), m, BackendOptions.DEFAULTS);
             KvCache kv = trt.newKvCache(len); HiddenStates hs = trt.newHiddenStates(len);
             KvCache kv2 = ort.newKvCache(len); HiddenStates hs2 = ort.newHiddenStates(len)) {
            float[] a = forward(trt, hs, kv, tokens, 0, tokens.length, true);
            float[] b = forward(ort, hs2, kv2, tokens, 0, tokens.length, true);
            assertTrue(maxAbsDiff(a, b) <= tolerance(b), "max diff " + maxAbsDiff(a, b));
        }
    }

    @Test
    void enginesAreBuiltOnceAndACorruptPlanIsRebuilt() throws Exception {
        CpuStandInNative first = new CpuStandInNative(1L << 30);
        int graphs;
        try (TrtModelRunner r = open(first)) {
            graphs = r.engines().all().size();
        }
        assertEquals(graphs, first.builds.get());
        // A second open of the same cache: every plan deserializes, none is built.
        try (TrtModelRunner r = open(first)) {
            assertEquals(graphs, first.builds.get(), "every engine came from the cache");
        }
        Path plan;
        try (var files = Files.list(cacheDir)) {
            plan = files.filter(f -> f.getFileName().toString().startsWith("layer_0-")).findFirst().orElseThrow();
        }
        byte[] bytes = Files.readAllBytes(plan);
        bytes[bytes.length - 1] ^= 1;
        Files.write(plan, bytes);
        try (TrtModelRunner r = open(first)) {
            assertEquals(graphs + 1, first.builds.get(), "exactly the corrupt plan was rebuilt");
        }
        assertTrue(log.stream().anyMatch(l -> l.contains("checksum mismatch")), String.valueOf(log));
    }

    @Test
    void aDeviceTooSmallIsRefusedBeforeAnyEngineIsBuilt() throws Exception {
        CpuStandInNative tiny = new CpuStandInNative(64 << 10);
        SkipperException e = assertThrows(SkipperException.class, () -> open(tiny));
        assertTrue(e.getMessage().contains("not enough memory") && e.getMessage().contains("is free"), e.getMessage());
        assertEquals(0, tiny.builds.get());
    }

    @Test
    void everyContextOfASequenceSharesOneScratchBuffer() throws Exception {
        CpuStandInNative nat = new CpuStandInNative(1L << 30);
        try (TrtModelRunner r = open(nat)) {
            int[] prompt = new int[ProfilePlan.DEFAULT_VERIFY_ROWS + 3]; // the prefill profile, then decode steps
            java.util.Arrays.fill(prompt, 7);
            try (KvCache kv = r.newKvCache(64); HiddenStates a = r.newHiddenStates(prompt.length);
                 HiddenStates b = r.newHiddenStates(2)) {
                forward(r, a, kv, prompt, 0, prompt.length, false);
                forward(r, a, kv, new int[] {5}, 0, 1, false);
                int contextsOfA = nat.scratches.size();
                assertTrue(contextsOfA >= 2 * r.manifest().model().numLayers() + 1,
                        "a context per engine and profile used (both profiles of every layer): " + contextsOfA);
                assertEquals(1, nat.scratches.stream().distinct().count(), "one scratch for all of them");
                TrtHiddenStates ha = (TrtHiddenStates) a;
                assertTrue(ha.scratch.bytes() >= r.engines().scratchBytes());
                kv.truncate(0);
                forward(r, b, kv, new int[] {1, 2}, 0, 2, false);
                assertEquals(2, nat.scratches.stream().distinct().count(), "another sequence, another scratch");
            }
        }
    }

    @Test
    void everyDeviceBufferIsFreedOnClose() throws Exception {
        CpuStandInNative nat = new CpuStandInNative(1L << 30);
        try (TrtModelRunner r = open(nat)) {
            try (KvCache kv = r.newKvCache(16); HiddenStates hs = r.newHiddenStates(4)) {
                forward(r, hs, kv, new int[] {1, 2, 3}, 0, 3, false);
                assertTrue(nat.usedBytes() > 0);
            }
            assertEquals(0, nat.usedBytes());
        }
    }
}
