package dev.skipper.tensorrt.cuda;

import dev.skipper.runtime.profiles.EngineSpec;
import dev.skipper.runtime.spi.DevicePrecision;
import dev.skipper.api.SkipperException;
import dev.skipper.tensorrt.TrtNative;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.cudart.cudaDeviceProp;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.SizeTPointer;
import org.bytedeco.tensorrt.global.nvinfer;
import org.bytedeco.tensorrt.global.nvonnxparser;
import org.bytedeco.tensorrt.nvinfer.Dims64;
import org.bytedeco.tensorrt.nvinfer.IBuilder;
import org.bytedeco.tensorrt.nvinfer.IBuilderConfig;
import org.bytedeco.tensorrt.nvinfer.ICudaEngine;
import org.bytedeco.tensorrt.nvinfer.IExecutionContext;
import org.bytedeco.tensorrt.nvinfer.IHostMemory;
import org.bytedeco.tensorrt.nvinfer.ILogger;
import org.bytedeco.tensorrt.nvinfer.INetworkDefinition;
import org.bytedeco.tensorrt.nvinfer.IOptimizationProfile;
import org.bytedeco.tensorrt.nvinfer.IRuntime;
import org.bytedeco.tensorrt.nvinfer.ITimingCache;
import org.bytedeco.tensorrt.nvonnxparser.IParser;

/**
 * The native seam over the bytedeco presets of CUDA 13.1 and TensorRT 10.15 (docs/gpu.md). Compiled
 * in every build; it runs only where a driver, CUDA and TensorRT are installed, which is never the
 * case in CI: {@link #unavailableReason} says so in one line instead.
 *
 * <p>Life cycle: in this binding the objects TensorRT's {@code create*} functions return have no
 * deallocator (bytedeco/javacpp-presets issue 1699), so builders, parsers, networks and configs of a
 * build live until the process exits; the runtime, engines and contexts are therefore created once
 * per runner and reused. Everything allocated here (device and pinned memory, streams, Dims64,
 * name pointers, the logger) is freed by {@code close()}.
 */
public final class CudaTrtNative implements TrtNative {
    private final DeviceInfo device;
    private final TrtLogger logger = new TrtLogger();
    private IRuntime runtime; // created on the first deserialize

    private CudaTrtNative(DeviceInfo device) {
        this.device = device;
    }

    /**
     * Why this machine cannot run TensorRT engines on a device, or null when it can. Never throws:
     * a missing driver or library shows up as a {@link LinkageError} on the first touch of the
     * presets and is reported in one line.
     *
     * @param ordinal the CUDA device index
     * @return the reason, or null
     */
    public static String unavailableReason(int ordinal) {
        try {
            int[] count = new int[1];
            int rc = cudart.cudaGetDeviceCount(count);
            if (rc != cudart.cudaSuccess) {
                return "CUDA reports " + error(rc) + " (is the NVIDIA driver installed and the device visible?)";
            }
            if (count[0] < 1) {
                return "no CUDA device is visible";
            }
            if (ordinal < 0 || ordinal >= count[0]) {
                return "CUDA device " + ordinal + " does not exist (" + count[0] + " visible)";
            }
            nvinfer.getInferLibVersion(); // loads libnvinfer
            nvonnxparser.getNvOnnxParserVersion();
            return null;
        } catch (LinkageError e) {
            return linkageReason(rootMessage(e));
        }
    }

    /**
     * Opens a device.
     *
     * @param ordinal the CUDA device index
     * @return the seam
     * @throws SkipperException when the device is not usable (the reason of {@link #unavailableReason})
     */
    public static CudaTrtNative open(int ordinal) throws SkipperException {
        String reason = unavailableReason(ordinal);
        if (reason != null) {
            throw new SkipperException(reason);
        }
        check(cudart.cudaSetDevice(ordinal), "cudaSetDevice");
        try (cudaDeviceProp prop = new cudaDeviceProp()) {
            check(cudart.cudaGetDeviceProperties(prop, ordinal), "cudaGetDeviceProperties");
            return new CudaTrtNative(new DeviceInfo(ordinal, prop.name().getString().trim(), prop.major(), prop.minor(),
                    prop.totalGlobalMem()));
        }
    }

    @Override
    public DeviceInfo device() {
        return device;
    }

    @Override
    public long freeDeviceBytes() throws SkipperException {
        try (SizeTPointer free = new SizeTPointer(1); SizeTPointer total = new SizeTPointer(1)) {
            check(cudart.cudaSetDevice(device.ordinal()), "cudaSetDevice");
            check(cudart.cudaMemGetInfo(free, total), "cudaMemGetInfo");
            return free.get();
        }
    }

    @Override
    public String tensorrtVersion() {
        return nvinfer.getInferLibMajorVersion() + "." + nvinfer.getInferLibMinorVersion() + "."
                + nvinfer.getInferLibPatchVersion();
    }

    @Override
    public DeviceMemory allocate(long bytes) throws SkipperException {
        Pointer p = new Pointer();
        check(cudart.cudaSetDevice(device.ordinal()), "cudaSetDevice");
        int rc = cudart.cudaMalloc(p, bytes);
        if (rc != cudart.cudaSuccess) {
            throw new SkipperException("cannot allocate " + bytes + " bytes on GPU " + device.ordinal() + ": " + error(rc));
        }
        return new Device(p, bytes);
    }

    @Override
    public HostMemory allocateHost(long bytes) throws SkipperException {
        if (bytes < 1 || bytes > Integer.MAX_VALUE) {
            throw new SkipperException("pinned host buffers hold 1 .. 2^31-1 bytes, asked for " + bytes);
        }
        Pointer p = new Pointer();
        check(cudart.cudaMallocHost(p, bytes), "cudaMallocHost(" + bytes + ")");
        return new Host(p, bytes);
    }

    @Override
    public Stream createStream() throws SkipperException {
        CUstream_st s = new CUstream_st();
        check(cudart.cudaSetDevice(device.ordinal()), "cudaSetDevice");
        check(cudart.cudaStreamCreate(s), "cudaStreamCreate");
        return new CudaStream(s);
    }

    @Override
    public void copyToDevice(HostMemory src, long srcOffset, DeviceMemory dst, long dstOffset, long bytes, Stream stream)
            throws SkipperException {
        Host h = (Host) src;
        Device d = (Device) dst;
        check(cudart.cudaMemcpyAsync(d.b.position(dstOffset), h.a.position(srcOffset), bytes,
                cudart.cudaMemcpyHostToDevice, ((CudaStream) stream).s), "cudaMemcpyAsync host->device");
    }

    @Override
    public void copyToHost(DeviceMemory src, long srcOffset, HostMemory dst, long dstOffset, long bytes, Stream stream)
            throws SkipperException {
        Device d = (Device) src;
        Host h = (Host) dst;
        check(cudart.cudaMemcpyAsync(h.a.position(dstOffset), d.a.position(srcOffset), bytes,
                cudart.cudaMemcpyDeviceToHost, ((CudaStream) stream).s), "cudaMemcpyAsync device->host");
    }

    @Override
    public void copyOnDevice(DeviceMemory src, long srcOffset, DeviceMemory dst, long dstOffset, long bytes,
                             Stream stream) throws SkipperException {
        check(cudart.cudaMemcpyAsync(((Device) dst).b.position(dstOffset), ((Device) src).a.position(srcOffset), bytes,
                cudart.cudaMemcpyDeviceToDevice, ((CudaStream) stream).s), "cudaMemcpyAsync device->device");
    }

    @Override
    public void synchronize(Stream stream) throws SkipperException {
        check(cudart.cudaStreamSynchronize(((CudaStream) stream).s), "cudaStreamSynchronize");
    }

    @Override
    public byte[] buildPlan(Path onnx, EngineSpec spec, TimingCache timingCache) throws SkipperException {
        check(cudart.cudaSetDevice(device.ordinal()), "cudaSetDevice");
        logger.clear();
        IBuilder builder = nvinfer.createInferBuilder(logger);
        if (builder == null || builder.isNull()) {
            throw new SkipperException("TensorRT cannot create a builder: " + logger.lastError());
        }
        // Explicit batch is implied in TensorRT 10; weakly typed so that --precision fp16 can allow fp16 kernels.
        INetworkDefinition network = builder.createNetworkV2(0);
        IParser parser = nvonnxparser.createParser(network, logger);
        if (!parser.parseFromFile(onnx.toString(), ILogger.Severity.kWARNING.value)) {
            StringBuilder why = new StringBuilder();
            for (int i = 0; i < parser.getNbErrors() && i < 3; i++) {
                why.append(i == 0 ? "" : "; ").append(parser.getError(i).desc()).append(" (node ")
                        .append(parser.getError(i).nodeName()).append(", ").append(parser.getError(i).nodeOperator())
                        .append(')');
            }
            throw new SkipperException("TensorRT's ONNX parser refuses " + onnx + ": " + SkipperException.oneLine(why.toString()));
        }
        IBuilderConfig config = builder.createBuilderConfig();
        config.setMemoryPoolLimit(nvinfer.MemoryPoolType.kWORKSPACE, spec.workspaceBytes());
        if (spec.precision() == DevicePrecision.FP16) {
            config.setFlag(nvinfer.BuilderFlag.kFP16);
        } else {
            config.clearFlag(nvinfer.BuilderFlag.kTF32); // fp32 means fp32: parity with the CPU backend
        }
        List<Pointer> ours = new ArrayList<>();
        try {
            for (EngineSpec.Profile p : spec.profiles()) {
                IOptimizationProfile profile = builder.createOptimizationProfile();
                for (EngineSpec.InputRange r : p.inputs()) {
                    Dims64 min = dims(r.min(), ours);
                    Dims64 opt = dims(r.opt(), ours);
                    Dims64 max = dims(r.max(), ours);
                    if (!profile.setDimensions(r.tensor(), nvinfer.OptProfileSelector.kMIN, min)
                            || !profile.setDimensions(r.tensor(), nvinfer.OptProfileSelector.kOPT, opt)
                            || !profile.setDimensions(r.tensor(), nvinfer.OptProfileSelector.kMAX, max)) {
                        throw new SkipperException("TensorRT refuses profile " + p.name() + " of " + onnx + ": "
                                + r.describe() + " (" + logger.lastError() + ")");
                    }
                }
                if (config.addOptimizationProfile(profile) < 0) {
                    throw new SkipperException("TensorRT refuses profile " + p.name() + " of " + onnx + ": "
                            + logger.lastError());
                }
            }
            ITimingCache cache;
            if (timingCache != null && timingCache.bytes != null) {
                BytePointer bytes = new BytePointer(timingCache.bytes);
                ours.add(bytes);
                cache = config.createTimingCache(bytes, timingCache.bytes.length);
            } else {
                cache = config.createTimingCache(null, 0);
            }
            config.setTimingCache(cache, false);
            IHostMemory plan = builder.buildSerializedNetwork(network, config);
            if (plan == null || plan.isNull() || plan.size() == 0) {
                throw new SkipperException("TensorRT cannot build an engine from " + onnx + ": " + logger.lastError());
            }
            byte[] out = bytes(plan);
            if (timingCache != null) {
                IHostMemory serialized = cache.serialize();
                if (serialized != null && !serialized.isNull()) {
                    timingCache.bytes = bytes(serialized);
                }
            }
            return out;
        } finally {
            for (Pointer p : ours) {
                p.close();
            }
        }
    }

    @Override
    public Engine deserialize(byte[] plan) throws SkipperException {
        check(cudart.cudaSetDevice(device.ordinal()), "cudaSetDevice");
        if (runtime == null) {
            runtime = nvinfer.createInferRuntime(logger);
            if (runtime == null || runtime.isNull()) {
                throw new SkipperException("TensorRT cannot create a runtime: " + logger.lastError());
            }
        }
        logger.clear();
        try (BytePointer bytes = new BytePointer(plan)) {
            ICudaEngine engine = runtime.deserializeCudaEngine(bytes, plan.length);
            if (engine == null || engine.isNull()) {
                throw new SkipperException("TensorRT refuses the engine plan: " + logger.lastError());
            }
            return new CudaEngine(engine);
        }
    }

    @Override
    public void close() {
        logger.close();
    }

    private static Dims64 dims(long[] d, List<Pointer> ours) {
        Dims64 dims = new Dims64();
        ours.add(dims);
        dims.nbDims(d.length);
        for (int i = 0; i < d.length; i++) {
            dims.d(i, d[i]);
        }
        return dims;
    }

    private static byte[] bytes(IHostMemory memory) {
        long size = memory.size();
        if (size > Integer.MAX_VALUE - 1024) {
            throw new IllegalStateException("a TensorRT plan of " + size + " bytes is larger than one engine file holds");
        }
        byte[] out = new byte[(int) size];
        new BytePointer(memory.data()).capacity(size).get(out);
        return out;
    }

    private final class CudaEngine implements Engine {
        private final ICudaEngine engine;
        private final List<String> names;
        private final BytePointer[] namePointers; // [tensors] for allocation-free setInputShape/setTensorAddress

        CudaEngine(ICudaEngine engine) {
            this.engine = engine;
            int n = engine.getNbIOTensors();
            List<String> list = new ArrayList<>(n);
            namePointers = new BytePointer[n];
            for (int i = 0; i < n; i++) {
                String name = engine.getIOTensorName(i);
                list.add(name);
                namePointers[i] = new BytePointer(name);
            }
            names = Collections.unmodifiableList(list);
        }

        @Override
        public List<String> tensorNames() {
            return names;
        }

        @Override
        public int profiles() {
            return engine.getNbOptimizationProfiles();
        }

        @Override
        public long contextMemoryBytes(int profile) {
            return engine.getDeviceMemorySizeForProfileV2(profile);
        }

        @Override
        public ExecutionContext createContext(int profile, Stream stream, DeviceMemory scratch) throws SkipperException {
            long need = contextMemoryBytes(profile);
            if (scratch.bytes() < need) {
                throw new SkipperException("TensorRT context scratch of " + scratch.bytes() + " bytes, profile " + profile
                        + " needs " + need);
            }
            IExecutionContext ctx = engine.createExecutionContext(nvinfer.ExecutionContextAllocationStrategy.kUSER_MANAGED);
            if (ctx == null || ctx.isNull()) {
                throw new SkipperException("TensorRT cannot create an execution context: " + logger.lastError());
            }
            ctx.setDeviceMemoryV2(((Device) scratch).base, scratch.bytes());
            if (!ctx.setOptimizationProfileAsync(profile, ((CudaStream) stream).s)) {
                throw new SkipperException("TensorRT refuses optimization profile " + profile + ": " + logger.lastError());
            }
            return new CudaContext(ctx, namePointers);
        }

        @Override
        public void close() {
            for (BytePointer p : namePointers) {
                p.close();
            }
            engine.close(); // no deallocator in this binding (issue 1699): a no-op until it has one
        }
    }

    private final class CudaContext implements ExecutionContext {
        private final IExecutionContext ctx;
        private final BytePointer[] names;
        private final Dims64 dims = new Dims64(); // reused: a step allocates nothing

        CudaContext(IExecutionContext ctx, BytePointer[] names) {
            this.ctx = ctx;
            this.names = names;
        }

        @Override
        public void setInputShape(int tensor, long[] d) throws SkipperException {
            dims.nbDims(d.length);
            for (int i = 0; i < d.length; i++) {
                dims.d(i, d[i]);
            }
            if (!ctx.setInputShape(names[tensor], dims)) {
                throw new SkipperException("TensorRT refuses the shape of " + names[tensor].getString() + " (outside "
                        + "the engine's profile?): " + logger.lastError());
            }
        }

        @Override
        public void setAddress(int tensor, DeviceMemory memory, long byteOffset) throws SkipperException {
            if (!ctx.setTensorAddress(names[tensor], ((Device) memory).a.position(byteOffset))) {
                throw new SkipperException("TensorRT refuses the address of " + names[tensor].getString() + ": "
                        + logger.lastError());
            }
        }

        @Override
        public void enqueue(Stream stream) throws SkipperException {
            if (!ctx.enqueueV3(((CudaStream) stream).s)) {
                throw new SkipperException("TensorRT cannot run the engine: " + logger.lastError());
            }
        }

        @Override
        public void close() {
            dims.close();
            ctx.close(); // see CudaEngine.close
        }
    }

    /** Device memory with two cursors (source and destination of one copy may be the same allocation). */
    private static final class Device implements DeviceMemory {
        private final Pointer base;
        final BytePointer a;
        final BytePointer b;
        private final long bytes;
        private boolean freed;

        Device(Pointer base, long bytes) {
            this.base = base;
            this.bytes = bytes;
            this.a = new BytePointer(base);
            this.b = new BytePointer(base);
        }

        @Override
        public long bytes() {
            return bytes;
        }

        @Override
        public void close() {
            if (!freed) {
                freed = true;
                cudart.cudaFree(base);
            }
        }
    }

    private static final class Host implements HostMemory {
        private final Pointer base;
        final BytePointer a;
        private final java.nio.ByteBuffer view;
        private boolean freed;

        Host(Pointer base, long bytes) {
            this.base = base;
            this.a = new BytePointer(base);
            this.view = new BytePointer(base).capacity(bytes).asByteBuffer().order(ByteOrder.nativeOrder());
        }

        @Override
        public java.nio.ByteBuffer buffer() {
            return view;
        }

        @Override
        public void close() {
            if (!freed) {
                freed = true;
                cudart.cudaFreeHost(base);
            }
        }
    }

    private static final class CudaStream implements Stream {
        final CUstream_st s;
        private boolean destroyed;

        CudaStream(CUstream_st s) {
            this.s = s;
        }

        @Override
        public void close() {
            if (!destroyed) {
                destroyed = true;
                cudart.cudaStreamSynchronize(s);
                cudart.cudaStreamDestroy(s);
            }
        }
    }

    /** TensorRT's log: warnings and errors to System.Logger, the last error kept for messages. Thread-safe. */
    private static final class TrtLogger extends ILogger {
        private static final System.Logger LOG = System.getLogger("dev.skipper.tensorrt");
        private volatile String lastError = "";

        @Override
        public void log(ILogger.Severity severity, String msg) {
            if (severity.value <= ILogger.Severity.kERROR.value) {
                lastError = SkipperException.oneLine(msg);
                LOG.log(System.Logger.Level.DEBUG, "TensorRT: " + lastError);
            } else if (severity.value == ILogger.Severity.kWARNING.value) {
                LOG.log(System.Logger.Level.DEBUG, "TensorRT warning: " + SkipperException.oneLine(msg));
            }
        }

        String lastError() {
            return lastError.isEmpty() ? "no message from TensorRT" : lastError;
        }

        void clear() {
            lastError = "";
        }
    }

    private static void check(int rc, String what) throws SkipperException {
        if (rc != cudart.cudaSuccess) {
            throw new SkipperException(what + " failed: " + error(rc));
        }
    }

    private static String error(int rc) {
        try {
            return "CUDA error " + rc + " (" + cudart.cudaGetErrorString(rc).getString() + ")";
        } catch (RuntimeException | LinkageError e) {
            return "CUDA error " + rc;
        }
    }

    /**
     * @param message the root cause of a {@link LinkageError} from loading the presets
     * @return what is missing, in one line a user can act on
     */
    public static String linkageReason(String message) {
        if (message.contains("libcuda.so")) {
            return "no NVIDIA driver is installed (libcuda.so.1 cannot be loaded)";
        }
        if (message.contains("libcudart.so") || message.contains("libcublas")) {
            return "the CUDA 13 runtime is not installed (" + shortLibrary(message) + "; see docs/gpu.md)";
        }
        if (message.contains("libnvinfer") || message.contains("libnvonnxparser")) {
            return "TensorRT 10 is not installed (" + shortLibrary(message) + "; see docs/gpu.md)";
        }
        return "the CUDA/TensorRT libraries cannot be loaded (" + message + ")";
    }

    /** The "libX.so.N: cannot open ..." part of a loader message, without the cache path before it. */
    private static String shortLibrary(String message) {
        int colon = message.lastIndexOf(": lib");
        return colon >= 0 ? message.substring(colon + 2) : message;
    }

    private static String rootMessage(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        return SkipperException.oneLine(String.valueOf(c.getMessage()));
    }
}
