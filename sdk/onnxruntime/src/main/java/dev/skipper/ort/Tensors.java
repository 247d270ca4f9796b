package dev.skipper.ort;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import dev.skipper.api.SkipperException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;

/**
 * Direct native-order buffers and zero-copy {@link OnnxTensor} views over regions of them.
 *
 * <p>ONNX Runtime wraps a direct buffer's memory without copying it, both as an input and as a
 * pinned output (written in place by {@code OrtSession.run}). The tensor does not own the memory:
 * closing it frees only the small native OrtValue header.
 */
final class Tensors {
    private Tensors() {}

    /**
     * Allocates a zeroed direct buffer in native byte order.
     *
     * @param bytes size in bytes (checked to fit one buffer)
     * @param what what it is for, for the error message
     * @return the buffer
     * @throws SkipperException if it is too large for one buffer or direct memory is exhausted
     */
    static ByteBuffer allocate(long bytes, String what) throws SkipperException {
        if (bytes < 0 || bytes > Integer.MAX_VALUE) {
            throw new SkipperException(what + " needs " + bytes + " bytes, more than one buffer can hold ("
                    + Integer.MAX_VALUE + ")");
        }
        try {
            return ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder());
        } catch (OutOfMemoryError e) {
            throw new SkipperException("cannot allocate " + mib(bytes) + " for " + what
                    + ": direct memory exhausted (see -XX:MaxDirectMemorySize)", e);
        }
    }

    /**
     * A tensor over {@code [byteOffset, byteOffset + byteLength)} of an activation buffer.
     *
     * @param env the environment
     * @param buffer a direct buffer from {@link #allocate}
     * @param byteOffset first byte
     * @param byteLength bytes, matching {@code shape} (may be 0)
     * @param fp16 element type float16 (else float32)
     * @param shape the tensor's shape
     * @return a tensor that aliases the buffer
     * @throws OrtException if ONNX Runtime rejects it
     */
    static OnnxTensor activations(OrtEnvironment env, ByteBuffer buffer, int byteOffset, int byteLength,
                                  boolean fp16, long... shape) throws OrtException {
        ByteBuffer region = buffer.slice(byteOffset, byteLength).order(ByteOrder.nativeOrder());
        return fp16
                ? OnnxTensor.createTensor(env, region.asShortBuffer(), shape, OnnxJavaType.FLOAT16)
                : OnnxTensor.createTensor(env, region.asFloatBuffer(), shape);
    }

    /**
     * A float32 tensor over {@code [offset, offset + length)} of a float buffer.
     *
     * @param env the environment
     * @param buffer a direct float buffer
     * @param offset first element
     * @param length elements, matching {@code shape}
     * @param shape the tensor's shape
     * @return a tensor that aliases the buffer
     * @throws OrtException if ONNX Runtime rejects it
     */
    static OnnxTensor floats(OrtEnvironment env, FloatBuffer buffer, int offset, int length, long... shape)
            throws OrtException {
        return OnnxTensor.createTensor(env, buffer.slice(offset, length), shape);
    }

    /**
     * An int64 tensor over {@code [offset, offset + length)} of a long buffer.
     *
     * @param env the environment
     * @param buffer a direct long buffer
     * @param offset first element
     * @param length elements, matching {@code shape}
     * @param shape the tensor's shape
     * @return a tensor that aliases the buffer
     * @throws OrtException if ONNX Runtime rejects it
     */
    static OnnxTensor longs(OrtEnvironment env, LongBuffer buffer, int offset, int length, long... shape)
            throws OrtException {
        return OnnxTensor.createTensor(env, buffer.slice(offset, length), shape);
    }

    /**
     * Closes a tensor if there is one.
     *
     * @param tensor a tensor or {@code null}
     */
    static void closeQuietly(OnnxTensor tensor) {
        if (tensor != null) {
            tensor.close();
        }
    }

    /**
     * Formats a byte count for messages.
     *
     * @param bytes bytes
     * @return for example {@code 94.4 MiB}
     */
    static String mib(long bytes) {
        return String.format(java.util.Locale.ROOT, "%.1f MiB", bytes / (1024.0 * 1024.0));
    }
}
