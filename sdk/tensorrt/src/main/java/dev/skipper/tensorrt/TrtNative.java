package dev.skipper.tensorrt;

import dev.skipper.runtime.profiles.EngineSpec;
import dev.skipper.api.SkipperException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;

/**
 * The native seam of the TensorRT backend: every call that touches the GPU, CUDA or TensorRT goes
 * through this interface and nothing else. {@code cuda/CudaTrtNative} implements it over the
 * bytedeco TensorRT and CUDA presets; the tests implement it on the CPU (device memory = direct
 * buffers, an engine = the same ONNX file run by ONNX Runtime), so that everything above it (the
 * runner's buffers, offsets, shapes per call, profiles, the engine cache, preflight and fallback)
 * is tested without a GPU.
 *
 * <p>Streams order work: calls on one stream run in order; results are visible on the host after
 * {@link #synchronize}. An implementation may run everything synchronously.
 */
public interface TrtNative extends AutoCloseable {

    /** @return the device this instance drives */
    DeviceInfo device();

    /**
     * @return bytes of device memory free now
     * @throws SkipperException when the device cannot be queried
     */
    long freeDeviceBytes() throws SkipperException;

    /** @return the TensorRT library version at run time, e.g. {@code 10.15.1} (part of the engine cache key) */
    String tensorrtVersion();

    /**
     * @param bytes size, at least 1
     * @return device memory; the caller closes it
     * @throws SkipperException when the device is out of memory
     */
    DeviceMemory allocate(long bytes) throws SkipperException;

    /**
     * @param bytes size, at least 1, at most {@link Integer#MAX_VALUE}
     * @return page-locked host memory (fast, asynchronous copies); the caller closes it
     * @throws SkipperException when it cannot be allocated
     */
    HostMemory allocateHost(long bytes) throws SkipperException;

    /**
     * @return a new stream; the caller closes it
     * @throws SkipperException when it cannot be created
     */
    Stream createStream() throws SkipperException;

    /**
     * Copies host to device, ordered on {@code stream}.
     *
     * @param src source
     * @param srcOffset byte offset in it
     * @param dst destination
     * @param dstOffset byte offset in it
     * @param bytes bytes
     * @param stream the stream
     * @throws SkipperException on a CUDA error
     */
    void copyToDevice(HostMemory src, long srcOffset, DeviceMemory dst, long dstOffset, long bytes, Stream stream)
            throws SkipperException;

    /**
     * Copies device to host, ordered on {@code stream} (read the host side after {@link #synchronize}).
     *
     * @param src source
     * @param srcOffset byte offset in it
     * @param dst destination
     * @param dstOffset byte offset in it
     * @param bytes bytes
     * @param stream the stream
     * @throws SkipperException on a CUDA error
     */
    void copyToHost(DeviceMemory src, long srcOffset, HostMemory dst, long dstOffset, long bytes, Stream stream)
            throws SkipperException;

    /**
     * Copies device to device, ordered on {@code stream}.
     *
     * @param src source
     * @param srcOffset byte offset in it
     * @param dst destination
     * @param dstOffset byte offset in it
     * @param bytes bytes
     * @param stream the stream
     * @throws SkipperException on a CUDA error
     */
    void copyOnDevice(DeviceMemory src, long srcOffset, DeviceMemory dst, long dstOffset, long bytes, Stream stream)
            throws SkipperException;

    /**
     * Waits for everything queued on a stream.
     *
     * @param stream the stream
     * @throws SkipperException when queued work failed
     */
    void synchronize(Stream stream) throws SkipperException;

    /**
     * Builds a serialized engine (a plan) from an ONNX file.
     *
     * @param onnx the graph (its external data beside it)
     * @param spec precision, workspace and optimization profiles
     * @param timingCache a serialized timing cache to start from, or null; updated in place
     *     ({@link TimingCache#bytes}) when the build produced a new one
     * @return the plan
     * @throws SkipperException when the parser or builder fails (the message names the first error)
     */
    byte[] buildPlan(Path onnx, EngineSpec spec, TimingCache timingCache) throws SkipperException;

    /**
     * @param plan a plan from {@link #buildPlan} (checked for integrity by the engine cache first)
     * @return the engine; the caller closes it
     * @throws SkipperException when the runtime refuses the plan
     */
    Engine deserialize(byte[] plan) throws SkipperException;

    /** Releases the device handles of this instance (not the memory and engines handed out: those close themselves). */
    @Override
    void close();

    /** A serialized timing cache, read and written by the engine cache. */
    final class TimingCache {
        /** The bytes, or null when there is none yet. */
        public byte[] bytes;

        /** @param bytes initial bytes, or null */
        public TimingCache(byte[] bytes) {
            this.bytes = bytes;
        }
    }

    /**
     * The device this seam drives.
     *
     * @param ordinal CUDA device index
     * @param name e.g. {@code Orin} or {@code NVIDIA GeForce RTX 4090}
     * @param computeMajor compute capability major
     * @param computeMinor compute capability minor
     * @param totalBytes device memory
     */
    record DeviceInfo(int ordinal, String name, int computeMajor, int computeMinor, long totalBytes) {
        /** @return e.g. {@code 8.7} */
        public String computeCapability() {
            return computeMajor + "." + computeMinor;
        }
    }

    /** Device memory. Closing frees it. */
    interface DeviceMemory extends AutoCloseable {
        /** @return its size in bytes */
        long bytes();

        @Override
        void close();
    }

    /** Page-locked host memory with a direct-buffer view. Closing frees it. */
    interface HostMemory extends AutoCloseable {
        /** @return a native-order view of the whole allocation */
        ByteBuffer buffer();

        @Override
        void close();
    }

    /** A CUDA stream. Closing destroys it (after its work is done). */
    interface Stream extends AutoCloseable {
        @Override
        void close();
    }

    /** A deserialized engine: its I/O tensors, profiles and execution contexts. */
    interface Engine extends AutoCloseable {
        /** @return the I/O tensor names, in the engine's order */
        List<String> tensorNames();

        /** @return optimization profiles built into it */
        int profiles();

        /**
         * @param profile an optimization profile
         * @return device memory (scratch) an execution context of that profile needs for its activations
         */
        long contextMemoryBytes(int profile);

        /**
         * A context whose activations live in caller-owned scratch memory (TensorRT's user-managed
         * allocation), so that every context of one stream shares one scratch buffer: enqueues on a
         * stream run one after another, never at the same time. Without it each context (engines x
         * profiles x sequences) would hold its own.
         *
         * @param profile the optimization profile the context uses for its whole life
         * @param stream the stream the profile is set on
         * @param scratch at least {@link #contextMemoryBytes(int)} of that profile; outlives the context
         * @return a context; the caller closes it
         * @throws SkipperException when it cannot be created or the scratch is too small
         */
        ExecutionContext createContext(int profile, Stream stream, DeviceMemory scratch) throws SkipperException;

        @Override
        void close();
    }

    /**
     * One engine's execution state: shapes and addresses of its tensors, then {@link #enqueue}.
     * Tensors are addressed by their index in {@link Engine#tensorNames()} so that a step passes no
     * strings. Not thread-safe.
     */
    interface ExecutionContext extends AutoCloseable {
        /**
         * @param tensor input index
         * @param dims the shape for the next enqueue (not kept by the callee)
         * @throws SkipperException when the shape is outside the context's profile
         */
        void setInputShape(int tensor, long[] dims) throws SkipperException;

        /**
         * @param tensor input or output index
         * @param memory where it lives
         * @param byteOffset offset into {@code memory}
         * @throws SkipperException when the runtime refuses the address
         */
        void setAddress(int tensor, DeviceMemory memory, long byteOffset) throws SkipperException;

        /**
         * Queues the engine on a stream.
         *
         * @param stream the stream
         * @throws SkipperException when the runtime refuses to run (shapes missing, an error)
         */
        void enqueue(Stream stream) throws SkipperException;

        @Override
        void close();
    }
}
