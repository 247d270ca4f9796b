package dev.skipper.ort;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;

/**
 * Zero-copy {@link OnnxTensor} views over regions of direct native-order buffers
 * ({@link dev.skipper.runtime.DirectBuffers}).
 *
 * <p>ONNX Runtime wraps a direct buffer's memory without copying it, both as an input and as a
 * pinned output (written in place by {@code OrtSession.run}). The tensor does not own the memory:
 * closing it frees only the small native OrtValue header.
 */
final class Tensors {
    private Tensors() {}

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
}
