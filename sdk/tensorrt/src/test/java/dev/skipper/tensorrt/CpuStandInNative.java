package dev.skipper.tensorrt;

import dev.skipper.runtime.profiles.EngineSpec;
import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.skipper.api.SkipperException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The CPU stand-in of {@link TrtNative}: device memory is direct buffers (with a budget, to test
 * out-of-memory and preflight), a stream runs synchronously, a "plan" names the ONNX file and the
 * spec it was built with, and an engine runs that file with ONNX Runtime over views of the bound
 * buffers at the bound offsets. Shapes are checked against the context's profile exactly as
 * TensorRT refuses them, so the runner's profiles, offsets and chunking are what is tested.
 */
final class CpuStandInNative implements TrtNative {
    static final String MAGIC = "STANDIN-PLAN\n";
    private final OrtEnvironment env = OrtEnvironment.getEnvironment();
    private final long budget;
    private final AtomicLong used = new AtomicLong();
    final AtomicLong builds = new AtomicLong();
    /** The scratch buffer of every context created, in order (tests check they are shared per stream). */
    final List<DeviceMemory> scratches = java.util.Collections.synchronizedList(new ArrayList<>());
    // plan id -> spec (profiles): shared by every instance of this JVM, so that a plan another
    // instance built (an earlier open of the same cache) deserializes like a real one would
    private static final Map<String, EngineSpec> specs = new java.util.concurrent.ConcurrentHashMap<>();

    private final boolean faulty;

    CpuStandInNative(long budgetBytes) {
        this(budgetBytes, false);
    }

    /**
     * @param budgetBytes device memory
     * @param faulty reverse the floats of every copy to the host (wrong logits), for tests that must
     *     see a check fail
     */
    CpuStandInNative(long budgetBytes, boolean faulty) {
        this.budget = budgetBytes;
        this.faulty = faulty;
    }

    @Override
    public DeviceInfo device() {
        return new DeviceInfo(0, "CPU stand-in", 0, 0, budget);
    }

    @Override
    public long freeDeviceBytes() {
        return budget - used.get();
    }

    @Override
    public String tensorrtVersion() {
        return "stand-in";
    }

    @Override
    public DeviceMemory allocate(long bytes) throws SkipperException {
        if (bytes < 1 || bytes > Integer.MAX_VALUE || used.addAndGet(bytes) > budget) {
            used.addAndGet(-Math.max(0, bytes));
            throw new SkipperException("stand-in device out of memory: " + bytes + " bytes");
        }
        ByteBuffer b = ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder());
        return new Mem(b, used);
    }

    @Override
    public HostMemory allocateHost(long bytes) {
        ByteBuffer b = ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder());
        return new HostMemory() {
            @Override
            public ByteBuffer buffer() {
                return b;
            }

            @Override
            public void close() {
            }
        };
    }

    @Override
    public Stream createStream() {
        return () -> { };
    }

    private static void copy(ByteBuffer src, long so, ByteBuffer dst, long doff, long bytes) {
        ByteBuffer s = src.duplicate();
        s.limit((int) (so + bytes)).position((int) so);
        ByteBuffer d = dst.duplicate();
        d.position((int) doff);
        d.put(s);
    }

    @Override
    public void copyToDevice(HostMemory src, long srcOffset, DeviceMemory dst, long dstOffset, long bytes, Stream s) {
        copy(src.buffer(), srcOffset, ((Mem) dst).b, dstOffset, bytes);
    }

    @Override
    public void copyToHost(DeviceMemory src, long srcOffset, HostMemory dst, long dstOffset, long bytes, Stream s) {
        copy(((Mem) src).b, srcOffset, dst.buffer(), dstOffset, bytes);
        if (faulty && bytes % 4 == 0) {
            ByteBuffer b = dst.buffer();
            int n = (int) (bytes / 4);
            for (int i = 0; i < n / 2; i++) {
                int lo = (int) dstOffset + 4 * i;
                int hi = (int) dstOffset + 4 * (n - 1 - i);
                int t = b.getInt(lo);
                b.putInt(lo, b.getInt(hi));
                b.putInt(hi, t);
            }
        }
    }

    @Override
    public void copyOnDevice(DeviceMemory src, long srcOffset, DeviceMemory dst, long dstOffset, long bytes, Stream s) {
        copy(((Mem) src).b, srcOffset, ((Mem) dst).b, dstOffset, bytes);
    }

    @Override
    public void synchronize(Stream stream) {
    }

    @Override
    public synchronized byte[] buildPlan(Path onnx, EngineSpec spec, TimingCache timingCache) {
        builds.incrementAndGet();
        String id = onnx.toAbsolutePath() + "\n" + spec.describe();
        specs.put(id, spec);
        if (timingCache != null) {
            timingCache.bytes = "timing".getBytes(StandardCharsets.UTF_8);
        }
        return (MAGIC + id).getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public synchronized Engine deserialize(byte[] plan) throws SkipperException {
        String text = new String(plan, StandardCharsets.UTF_8);
        if (!text.startsWith(MAGIC)) {
            throw new SkipperException("stand-in: not a plan");
        }
        String id = text.substring(MAGIC.length());
        EngineSpec spec = specs.get(id);
        if (spec == null) {
            throw new SkipperException("stand-in: unknown plan (built by another instance)");
        }
        String path = id.substring(0, id.indexOf('\n'));
        try {
            OrtSession session = env.createSession(path, new OrtSession.SessionOptions());
            return new StandInEngine(session, spec);
        } catch (OrtException e) {
            throw new SkipperException("stand-in: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
    }

    long usedBytes() {
        return used.get();
    }

    private static final class Mem implements DeviceMemory {
        final ByteBuffer b;
        private final AtomicLong used;
        private boolean freed;

        Mem(ByteBuffer b, AtomicLong used) {
            this.b = b;
            this.used = used;
        }

        @Override
        public long bytes() {
            return b.capacity();
        }

        @Override
        public void close() {
            if (!freed) {
                freed = true;
                used.addAndGet(-b.capacity());
            }
        }
    }

    private final class StandInEngine implements Engine {
        final OrtSession session;
        final EngineSpec spec;
        final List<String> names = new ArrayList<>();
        final Map<String, TensorInfo> info = new HashMap<>();
        final int inputs;

        StandInEngine(OrtSession session, EngineSpec spec) throws OrtException {
            this.session = session;
            this.spec = spec;
            for (Map.Entry<String, NodeInfo> e : session.getInputInfo().entrySet()) {
                names.add(e.getKey());
                info.put(e.getKey(), (TensorInfo) e.getValue().getInfo());
            }
            inputs = names.size();
            for (Map.Entry<String, NodeInfo> e : session.getOutputInfo().entrySet()) {
                names.add(e.getKey());
                info.put(e.getKey(), (TensorInfo) e.getValue().getInfo());
            }
        }

        @Override
        public List<String> tensorNames() {
            return names;
        }

        @Override
        public int profiles() {
            return spec.profiles().size();
        }

        /** Stand-in scratch need: 4 KiB per tensor and row of the profile's largest first dimension product. */
        @Override
        public long contextMemoryBytes(int profile) {
            long rows = 1;
            for (EngineSpec.InputRange r : spec.profiles().get(profile).inputs()) {
                rows = Math.max(rows, r.max().length > 1 ? r.max()[1] : 1);
            }
            return Math.min(1L << 20, 4096L * names.size() * rows);
        }

        @Override
        public ExecutionContext createContext(int profile, Stream stream, DeviceMemory scratch) throws SkipperException {
            if (profile < 0 || profile >= spec.profiles().size()) {
                throw new SkipperException("stand-in: no profile " + profile);
            }
            if (scratch == null || ((Mem) scratch).freed || scratch.bytes() < contextMemoryBytes(profile)) {
                throw new SkipperException("stand-in: context scratch missing, freed or smaller than "
                        + contextMemoryBytes(profile) + " bytes");
            }
            scratches.add(scratch);
            return new StandInContext(this, spec.profiles().get(profile));
        }

        @Override
        public void close() {
            try {
                session.close();
            } catch (OrtException ignored) {
                // closing
            }
        }
    }

    private final class StandInContext implements ExecutionContext {
        private final StandInEngine e;
        private final EngineSpec.Profile profile;
        private final long[][] shapes;
        private final Mem[] memory;
        private final long[] offsets;

        StandInContext(StandInEngine e, EngineSpec.Profile profile) {
            this.e = e;
            this.profile = profile;
            this.shapes = new long[e.names.size()][];
            this.memory = new Mem[e.names.size()];
            this.offsets = new long[e.names.size()];
        }

        @Override
        public void setInputShape(int tensor, long[] dims) throws SkipperException {
            String name = e.names.get(tensor);
            if (tensor >= e.inputs || !profile.input(name).contains(dims)) {
                throw new SkipperException("stand-in: shape " + java.util.Arrays.toString(dims) + " of " + name
                        + " is outside profile " + profile.name());
            }
            shapes[tensor] = dims.clone();
        }

        @Override
        public void setAddress(int tensor, DeviceMemory mem, long byteOffset) {
            memory[tensor] = (Mem) mem;
            offsets[tensor] = byteOffset;
        }

        @Override
        public void enqueue(Stream stream) throws SkipperException {
            Map<String, OnnxTensor> in = new HashMap<>();
            Map<String, OnnxValue> out = new HashMap<>();
            try {
                long seq = -1;
                for (int t = 0; t < e.inputs; t++) {
                    if (shapes[t] == null || memory[t] == null) {
                        throw new SkipperException("stand-in: input " + e.names.get(t) + " has no shape or address");
                    }
                    if (shapes[t].length >= 2) {
                        seq = e.names.get(t).startsWith("past") ? seq : shapes[t][1];
                    }
                    in.put(e.names.get(t), view(t, shapes[t]));
                }
                for (int t = e.inputs; t < e.names.size(); t++) {
                    if (memory[t] == null) {
                        throw new SkipperException("stand-in: output " + e.names.get(t) + " has no address");
                    }
                    long[] dims = e.info.get(e.names.get(t)).getShape().clone();
                    for (int i = 0; i < dims.length; i++) {
                        if (dims[i] < 0) {
                            dims[i] = seq; // every dynamic output dimension is seq in the contract
                        }
                    }
                    out.put(e.names.get(t), view(t, dims));
                }
                e.session.run(new HashMap<>(in), out).close();
            } catch (OrtException ex) {
                throw new SkipperException("stand-in: " + ex.getMessage(), ex);
            } finally {
                in.values().forEach(OnnxTensor::close);
                out.values().forEach(OnnxValue::close);
            }
        }

        private OnnxTensor view(int t, long[] dims) throws OrtException, SkipperException {
            TensorInfo ti = e.info.get(e.names.get(t));
            long n = 1;
            for (long d : dims) {
                n *= d;
            }
            int elem = ti.type == OnnxJavaType.INT64 ? 8 : ti.type == OnnxJavaType.FLOAT16 ? 2 : 4;
            long bytes = n * elem;
            ByteBuffer b = memory[t].b;
            if (offsets[t] < 0 || offsets[t] + bytes > b.capacity()) {
                throw new SkipperException("stand-in: " + e.names.get(t) + " at offset " + offsets[t] + " + " + bytes
                        + " bytes is outside its buffer of " + b.capacity());
            }
            ByteBuffer region = b.duplicate().position((int) offsets[t]).limit((int) (offsets[t] + Math.max(bytes, 0)))
                    .slice().order(ByteOrder.nativeOrder());
            return switch (ti.type) {
                case INT64 -> OnnxTensor.createTensor(env, region.asLongBuffer(), dims);
                case FLOAT16 -> OnnxTensor.createTensor(env, region.asShortBuffer(), dims, OnnxJavaType.FLOAT16);
                default -> OnnxTensor.createTensor(env, region.asFloatBuffer(), dims);
            };
        }

        @Override
        public void close() {
        }
    }
}
