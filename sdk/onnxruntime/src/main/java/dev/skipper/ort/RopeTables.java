package dev.skipper.ort;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.runtime.BundleTables;
import java.nio.ByteBuffer;

/**
 * The bundle's rotary table ({@code rope_cache}) as the two tensors every layer graph of the
 * {@code head_major_shared} layout takes: {@code cos_cache} and {@code sin_cache}, each
 * {@code [positions, head_dim/2]}. Loaded once per runner and shared by every layer and sequence
 * (the graphs only read them).
 */
final class RopeTables implements AutoCloseable {
    private final ByteBuffer table; // [2][positions][width] float32 or float16, cosines then sines
    private final OnnxTensor cos;   // [positions, width] over the first half of table
    private final OnnxTensor sin;   // [positions, width] over the second half

    private RopeTables(ByteBuffer table, OnnxTensor cos, OnnxTensor sin) {
        this.table = table;
        this.cos = cos;
        this.sin = sin;
    }

    /**
     * Reads the table named by the manifest ({@link BundleTables#ropeTable}) and wraps its halves.
     *
     * @param env the environment
     * @param manifest a manifest with a rope cache
     * @return the tables
     * @throws SkipperException if the file cannot be read or has the wrong size
     * @throws OrtException if ONNX Runtime rejects the tensors
     */
    static RopeTables load(OrtEnvironment env, BundleManifest manifest) throws SkipperException, OrtException {
        BundleManifest.RopeCacheSpec spec = manifest.ropeCache();
        boolean fp16 = spec.dtype() == BundleManifest.DType.FLOAT16;
        ByteBuffer table = BundleTables.ropeTable(manifest);
        long bytes = spec.bytes();
        int half = (int) (bytes / 2);
        OnnxTensor cos = Tensors.activations(env, table, 0, half, fp16, spec.positions(), spec.width());
        try {
            OnnxTensor sin = Tensors.activations(env, table, half, half, fp16, spec.positions(), spec.width());
            return new RopeTables(table, cos, sin);
        } catch (OrtException | RuntimeException e) {
            cos.close();
            throw e;
        }
    }

    /** @return {@code cos_cache} (do not close) */
    OnnxTensor cos() {
        return cos;
    }

    /** @return {@code sin_cache} (do not close) */
    OnnxTensor sin() {
        return sin;
    }

    /** Closes both tensors; the buffer goes with the garbage collector. */
    @Override
    public void close() {
        cos.close();
        sin.close();
    }

    @Override
    public String toString() {
        return "RopeTables[" + table.capacity() + " bytes]";
    }
}
