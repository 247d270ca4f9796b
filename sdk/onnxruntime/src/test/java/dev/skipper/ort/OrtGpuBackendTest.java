package dev.skipper.ort;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtProvider;
import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.bundle.BundleManifestReader;
import dev.skipper.runtime.profiles.ProfilePlan;
import dev.skipper.runtime.spi.BackendOptions;
import dev.skipper.runtime.spi.BackendProvider;
import dev.skipper.runtime.spi.DeviceOptions;
import dev.skipper.runtime.spi.DevicePrecision;
import dev.skipper.testing.TestData;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The ONNX Runtime GPU backends ({@code cuda}, {@code ort-tensorrt}) on a machine that cannot run
 * them: found by the service loader, unavailable in one line that says what is missing (the CPU-only
 * jar, or in the {@code -Pgpu} build the CUDA 12 libraries), their TensorRT options and the bundles
 * they refuse. Nothing here needs a GPU.
 */
class OrtGpuBackendTest {
    private static final Path CACHE = Path.of("/cache");

    @Test
    void theServiceLoaderFindsBothGpuBackends() {
        List<String> names = ServiceLoader.load(BackendProvider.class).stream().map(p -> p.get().name()).toList();
        assertTrue(names.containsAll(List.of("cpu", "cuda", "ort-tensorrt")), names.toString());
    }

    @Test
    void withoutTheirProvidersTheySayWhatIsMissingInOneLine() {
        EnumSet<OrtProvider> available = OrtEnvironment.getAvailableProviders();
        for (BackendProvider p : List.of(new OrtCudaBackendProvider(), new OrtTensorRtBackendProvider())) {
            String reason = p.unavailableReason(BackendOptions.DEFAULTS);
            if (reason == null) {
                continue; // a machine with CUDA 12 and the -Pgpu build: nothing to say
            }
            assertTrue(!reason.contains("\n"), reason);
            if (available.contains(OrtProvider.CUDA)) { // -Pgpu build without the CUDA libraries
                assertTrue(reason.contains("cannot be loaded") && reason.contains(".so"), reason);
            } else {
                assertTrue(reason.contains("onnxruntime_gpu") && reason.contains("-Pgpu")
                        && reason.contains(p.name() + " backend"), reason);
            }
        }
        assertNull(OrtGpuBackend.reason(EnumSet.of(OrtProvider.CPU, OrtProvider.CUDA), OrtProvider.CUDA, "cuda"));
    }

    @Test
    void providerLoadErrorsKeepTheMissingLibrary() {
        String raw = "Error code - ORT_FAIL - message: /src/provider_bridge_ort.cc:1988 Failed to load library "
                + "/tmp/x/libonnxruntime_providers_cuda.so with error: libcublasLt.so.12: cannot open shared object "
                + "file: No such file or directory\n";
        assertEquals("libcublasLt.so.12: cannot open shared object file: No such file or directory (install CUDA 12 "
                + "and cuDNN 9 for onnxruntime_gpu 1.29)", OrtGpuBackend.loadError(raw));
    }

    @Test
    void tensorRtOptionsCarryTheBundlesProfilesAndCaches() throws Exception {
        BundleManifest m = BundleManifestReader.read(TestData.bundle("tiny-bpe-fp32-standard"), false);
        ProfilePlan plan = ProfilePlan.of(m);
        int h = m.model().hiddenSize();
        int kv = m.model().numKvHeads();
        int hd = m.model().headDim();
        long maxPast = m.model().maxPosition() - 1L;
        long optPast = Math.min(maxPast, ProfilePlan.OPT_PAST);
        int rows = plan.prefillRows();
        Map<String, String> o = GpuSessionSetup.tensorRtOptions(new DeviceOptions(1, DevicePrecision.AUTO, null), plan,
                CACHE, ProfilePlan.GraphKind.LAYER);
        assertEquals("1", o.get("device_id"));
        assertEquals("0", o.get("trt_fp16_enable"));
        assertEquals("1", o.get("trt_engine_cache_enable"));
        assertEquals(CACHE.toString(), o.get("trt_engine_cache_path"));
        assertEquals(CACHE.toString(), o.get("trt_timing_cache_path"));
        assertEquals("0", o.get("trt_cuda_graph_enable"));
        assertEquals("hidden:1x1x" + h + ",position_ids:1x1,past_key:1x0x" + kv + "x" + hd + ",past_value:1x0x" + kv + "x"
                + hd, o.get("trt_profile_min_shapes"));
        assertEquals("hidden:1x1x" + h + ",position_ids:1x1,past_key:1x" + optPast + "x" + kv + "x" + hd
                + ",past_value:1x" + optPast + "x" + kv + "x" + hd, o.get("trt_profile_opt_shapes"));
        assertEquals("hidden:1x" + rows + "x" + h + ",position_ids:1x" + rows + ",past_key:1x" + maxPast + "x" + kv + "x"
                + hd + ",past_value:1x" + maxPast + "x" + kv + "x" + hd, o.get("trt_profile_max_shapes"));
        Map<String, String> embed = GpuSessionSetup.tensorRtOptions(new DeviceOptions(0, DevicePrecision.FP16, null),
                plan, CACHE, ProfilePlan.GraphKind.EMBED);
        assertEquals("1", embed.get("trt_fp16_enable"));
        assertEquals("input_ids:1x" + rows, embed.get("trt_profile_max_shapes"));
        assertEquals("0", GpuSessionSetup.cudaOptions(new DeviceOptions(0, DevicePrecision.AUTO, null)).get("device_id"));
    }

    @Test
    void ortTensorRtRefusesOrtFlavourBundlesNamingTheFlag() throws Exception {
        BundleManifest m = BundleManifestReader.read(TestData.bundle("tiny-bpe-fp32"), false);
        SkipperException e = assertThrows(SkipperException.class,
                () -> new OrtTensorRtBackendProvider().open(m.directory(), m, BackendOptions.DEFAULTS));
        assertTrue(e.getMessage().startsWith("the ort-tensorrt backend needs a bundle of the standard flavour")
                && e.getMessage().contains("--flavour standard"), e.getMessage());
    }
}
