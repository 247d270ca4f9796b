package dev.skipper.ort;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProviderOptions;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.providers.OrtCUDAProviderOptions;
import ai.onnxruntime.providers.OrtTensorRTProviderOptions;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.runtime.profiles.EngineSpec;
import dev.skipper.runtime.profiles.ProfilePlan;
import dev.skipper.runtime.spi.DeviceOptions;
import dev.skipper.runtime.spi.DevicePrecision;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;

/**
 * ONNX Runtime's GPU execution providers for the {@code cuda} and {@code ort-tensorrt} backends
 * (the {@code -Pgpu} build: {@code onnxruntime_gpu}). {@code cuda}: the CUDA provider on every graph.
 * {@code ort-tensorrt}: the TensorRT provider first, with the bundle's optimization profiles as
 * explicit shape ranges (without them it would rebuild an engine whenever the cache length leaves
 * the shapes seen so far, i.e. every step), its engine and timing caches on disk, and the CUDA provider
 * after it for any node TensorRT does not take.
 *
 * <p>ONNX Runtime's Java API has no I/O binding: inputs (the past K/V included) are copied to the
 * device and outputs back on every run (docs/gpu.md has the arithmetic).
 */
final class GpuSessionSetup implements SessionSetup {
    /** Which provider leads. */
    enum Provider {
        /** CUDA execution provider. */
        CUDA,
        /** TensorRT execution provider, CUDA for what it leaves. */
        TENSORRT
    }

    private final Provider provider;
    private final DeviceOptions device;
    private final ProfilePlan plan;
    private final Path engineCache;
    private final List<OrtProviderOptions> made = new ArrayList<>();

    /**
     * @param provider which provider leads
     * @param device device, precision, cache settings
     * @param manifest the bundle (profiles, cache folder)
     */
    GpuSessionSetup(Provider provider, DeviceOptions device, BundleManifest manifest) {
        this.provider = provider;
        this.device = device;
        this.plan = manifest == null ? null : ProfilePlan.of(manifest);
        this.engineCache = manifest == null ? null : device.engineCacheFor(manifest.directory()).resolve("ort-tensorrt");
    }

    /**
     * Appends the providers with their device only (no profiles, no cache): loads their libraries,
     * which is the availability probe.
     *
     * @param options throwaway session options
     * @throws OrtException when a provider library cannot be loaded
     */
    void appendProvidersOnly(OrtSession.SessionOptions options) throws OrtException {
        if (provider == Provider.TENSORRT) {
            OrtTensorRTProviderOptions trt = new OrtTensorRTProviderOptions(device.device());
            made.add(trt);
            options.addTensorrt(trt);
        }
        OrtCUDAProviderOptions cuda = new OrtCUDAProviderOptions(device.device());
        made.add(cuda);
        options.addCUDA(cuda);
    }

    @Override
    public void apply(OrtSession.SessionOptions options, ProfilePlan.GraphKind kind) throws OrtException {
        if (provider == Provider.TENSORRT) {
            OrtTensorRTProviderOptions trt = new OrtTensorRTProviderOptions(device.device());
            made.add(trt);
            for (Map.Entry<String, String> e : tensorRtOptions(device, plan, engineCache, kind).entrySet()) {
                trt.add(e.getKey(), e.getValue());
            }
            options.addTensorrt(trt);
        }
        OrtCUDAProviderOptions cuda = new OrtCUDAProviderOptions(device.device());
        made.add(cuda);
        for (Map.Entry<String, String> e : cudaOptions(device).entrySet()) {
            cuda.add(e.getKey(), e.getValue());
        }
        options.addCUDA(cuda);
    }

    /**
     * The CUDA provider's options.
     *
     * @param device the device settings
     * @return option name to value
     */
    static Map<String, String> cudaOptions(DeviceOptions device) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("device_id", Integer.toString(device.device()));
        // Grow the arena by what is asked, not by doubling: a Jetson shares its memory with the CPU.
        m.put("arena_extend_strategy", "kSameAsRequested");
        return m;
    }

    /**
     * The TensorRT provider's options for one graph.
     *
     * @param device the device settings
     * @param plan the bundle's profiles
     * @param engineCache where its engines and timing cache go
     * @param kind the graph's kind (its dynamic inputs)
     * @return option name to value, in a stable order
     */
    static Map<String, String> tensorRtOptions(DeviceOptions device, ProfilePlan plan, Path engineCache,
                                               ProfilePlan.GraphKind kind) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("device_id", Integer.toString(device.device()));
        m.put("trt_max_workspace_size", Long.toString(EngineSpec.DEFAULT_WORKSPACE_BYTES));
        m.put("trt_fp16_enable", device.precision() == DevicePrecision.FP16 ? "1" : "0");
        m.put("trt_engine_cache_enable", "1");
        m.put("trt_engine_cache_path", engineCache.toString());
        m.put("trt_timing_cache_enable", "1");
        m.put("trt_timing_cache_path", engineCache.toString());
        m.put("trt_cuda_graph_enable", "0"); // not measured on a GPU yet: off
        // One profile from the decode profile's minimum to the prefill profile's maximum, tuned for a
        // decode step (the provider takes one range per input).
        EngineSpec spec = plan.spec(kind, device.precision(), EngineSpec.DEFAULT_WORKSPACE_BYTES);
        EngineSpec.Profile decode = spec.profiles().get(ProfilePlan.DECODE);
        EngineSpec.Profile prefill = spec.profiles().get(ProfilePlan.PREFILL);
        StringJoiner min = new StringJoiner(",");
        StringJoiner opt = new StringJoiner(",");
        StringJoiner max = new StringJoiner(",");
        for (EngineSpec.InputRange r : decode.inputs()) {
            min.add(r.tensor() + ":" + dims(r.min()));
            opt.add(r.tensor() + ":" + dims(r.opt()));
            max.add(r.tensor() + ":" + dims(prefill.input(r.tensor()).max()));
        }
        m.put("trt_profile_min_shapes", min.toString());
        m.put("trt_profile_opt_shapes", opt.toString());
        m.put("trt_profile_max_shapes", max.toString());
        return m;
    }

    private static String dims(long[] d) {
        StringJoiner j = new StringJoiner("x");
        for (long v : d) {
            j.add(Long.toString(v));
        }
        return j.toString();
    }

    @Override
    public void close() {
        for (OrtProviderOptions o : made) {
            o.close();
        }
        made.clear();
    }
}
