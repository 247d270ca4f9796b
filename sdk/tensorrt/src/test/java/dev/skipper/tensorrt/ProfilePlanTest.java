package dev.skipper.tensorrt;

import dev.skipper.runtime.MemoryPreflight;
import dev.skipper.runtime.profiles.ProfilePlan;
import dev.skipper.runtime.profiles.EngineSpec;
import dev.skipper.runtime.spi.DevicePrecision;
import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Profile ranges, the profile of a call, and the preflight arithmetic. */
class ProfilePlanTest {
    private final ProfilePlan plan = new ProfilePlan(16, 64, 2048, 576, 3, 64);

    @Test
    void layerProfilesCoverEveryCallTheRunnerMakes() {
        EngineSpec spec = plan.spec(ProfilePlan.GraphKind.LAYER, DevicePrecision.AUTO, 1);
        EngineSpec.Profile decode = spec.profiles().get(ProfilePlan.DECODE);
        EngineSpec.Profile prefill = spec.profiles().get(ProfilePlan.PREFILL);
        assertArrayEquals(new long[] {1, 1, 576}, decode.input("hidden").opt());
        assertArrayEquals(new long[] {1, 16, 576}, decode.input("hidden").max());
        assertArrayEquals(new long[] {1, 64, 576}, prefill.input("hidden").opt());
        // past: 0 (first chunk) .. max_position - 1 (the last token of a full context)
        assertArrayEquals(new long[] {1, 0, 3, 64}, decode.input("past_key").min());
        assertArrayEquals(new long[] {1, 2047, 3, 64}, prefill.input("past_value").max());
        for (int n = 1; n <= 64; n++) {
            EngineSpec.Profile p = spec.profiles().get(plan.profileFor(n));
            assertTrue(p.input("hidden").contains(new long[] {1, n, 576}), "rows " + n);
            assertTrue(p.input("position_ids").contains(new long[] {1, n}), "rows " + n);
            assertTrue(p.input("past_key").contains(new long[] {1, 2048 - n, 3, 64}), "rows " + n);
        }
        assertEquals(ProfilePlan.DECODE, plan.profileFor(16));
        assertEquals(ProfilePlan.PREFILL, plan.profileFor(17));
        assertThrows(IllegalArgumentException.class, () -> plan.profileFor(65));
        assertThrows(IllegalArgumentException.class, () -> plan.profileFor(0));
        assertFalse(decode.input("hidden").contains(new long[] {1, 17, 576}));
        assertThrows(IllegalArgumentException.class, () -> decode.input("input_ids"));
    }

    @Test
    void embedAndHeadProfilesHaveOnlyTheirInputs() {
        assertEquals(1, plan.spec(ProfilePlan.GraphKind.EMBED, DevicePrecision.AUTO, 1).profiles().get(0)
                .inputs().size());
        assertEquals(2, plan.spec(ProfilePlan.GraphKind.KV_FILL, DevicePrecision.AUTO, 1).profiles().get(1)
                .inputs().size());
        assertEquals(1, plan.spec(ProfilePlan.GraphKind.HIDDEN_ONLY, DevicePrecision.AUTO, 1).profiles().get(1)
                .inputs().size());
    }

    @Test
    void precisionParsingRefusesQuantizedEnginesWithWhy() {
        assertEquals(DevicePrecision.FP16, DevicePrecision.parse("FP16"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DevicePrecision.parse("int4"));
        assertTrue(e.getMessage().contains("symmetric"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> DevicePrecision.parse("fp8"));
    }

    @Test
    void preflightNamesBothNumbersAndTheLargestContextThatFits() {
        long mib = 1L << 20;
        MemoryPreflight p = new MemoryPreflight(500 * mib, mib / 4, 100 * mib); // 4 tokens per MiB
        assertEquals(600 * mib + 256 * mib, p.required(1024));
        assertEquals(400, p.largestContext(700 * mib, 8192));
        assertEquals(8192, p.largestContext(100_000 * mib, 8192));
        assertEquals(0, p.largestContext(600 * mib, 8192));
        assertEquals(Long.MAX_VALUE, p.required(Long.MAX_VALUE));
        Exception e = assertThrows(dev.skipper.api.SkipperException.class,
                () -> p.check(1024, 700 * mib, 8192, "GPU 0 (Orin)"));
        assertTrue(e.getMessage().contains("856.0 MiB") && e.getMessage().contains("700.0 MiB")
                && e.getMessage().contains("largest context that fits is 400 tokens"), e.getMessage());
        assertTrue(assertThrows(dev.skipper.api.SkipperException.class,
                () -> p.check(1, 10 * mib, 8192, "GPU 0")).getMessage().contains("not even the weights fit"));
    }

    @Test
    void loaderFailuresBecomeWhatIsMissing() {
        assertEquals("no NVIDIA driver is installed (libcuda.so.1 cannot be loaded)",
                dev.skipper.tensorrt.cuda.CudaTrtNative.linkageReason("/root/.javacpp/cache/x/libjnicudart.so: "
                        + "libcuda.so.1: cannot open shared object file: No such file or directory"));
        assertEquals("TensorRT 10 is not installed (libnvinfer.so.10: cannot open shared object file; see docs/gpu.md)",
                dev.skipper.tensorrt.cuda.CudaTrtNative.linkageReason("/c/libjninvinfer.so: libnvinfer.so.10: cannot "
                        + "open shared object file"));
    }

    @Test
    void withoutADriverTheProviderSaysWhyInOneLine() {
        String reason = new TrtBackendProvider().unavailableReason();
        org.junit.jupiter.api.Assumptions.assumeTrue(reason != null, "a usable GPU is present");
        assertFalse(reason.contains("\n"), reason);
        assertTrue(reason.contains("CUDA") || reason.contains("device") || reason.contains("driver"), reason);
        assertTrue(reason.length() < 200, reason);
    }
}
