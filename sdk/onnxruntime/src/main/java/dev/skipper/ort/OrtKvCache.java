package dev.skipper.ort;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import dev.skipper.api.SkipperException;
import dev.skipper.runtime.AbstractKvCache;
import dev.skipper.runtime.DirectBuffers;
import dev.skipper.runtime.Half;
import dev.skipper.runtime.KvGeometry;
import java.nio.ByteBuffer;

/**
 * One sequence's KV cache for the ONNX Runtime backend: per layer one direct K and one direct V
 * buffer in the bundle's layout, plus a valid length per layer.
 *
 * <ul>
 *   <li>{@code sequence_major} {@code [maxSeq][kvHeads][headDim]}: the layer graphs read the valid
 *       prefix as {@code past_key}/{@code past_value} tensors that alias the buffers, and ONNX
 *       Runtime writes the new rows ({@code key}/{@code value} outputs) in place at rows
 *       {@code length .. length+count-1} through pinned outputs. The views change shape with the
 *       length, so they are made per call.</li>
 *   <li>{@code head_major_shared} {@code [kvHeads][maxSeq + scratch][headDim]}: one tensor per buffer
 *       over the whole capacity, created here once, is both the graph's past input and its pinned
 *       present output; GroupQueryAttention appends in place. A decode step creates no tensor.</li>
 * </ul>
 * The buffers hold {@code kv_cache.scratch_rows} more rows than the capacity: the ort flavour's layer
 * graphs write the K/V of a repeated last token there (batch invariance), and they are never valid.
 * Either way nothing is copied and truncation only lowers lengths.
 *
 * <p>Lengths, the room check and close-once semantics are {@link AbstractKvCache}'s. Not
 * thread-safe: one sequence, one thread at a time. {@link #close()} closes the tensors and drops the
 * buffers; the direct memory itself is returned when the garbage collector reclaims them
 * (Java has no deterministic free for direct buffers).
 */
public final class OrtKvCache extends AbstractKvCache {
    private final OrtEnvironment env;
    private final boolean fp16;
    private final int rowBytes; // bytes of one token's row: kvHeads*headDim*sizeof(dtype)

    // sequence_major: [layers][bufferRows][kvHeads][headDim]; head_major_shared: [layers][kvHeads][bufferRows][headDim]
    private ByteBuffer[] keys;   // rotated keys, float32 or float16
    private ByteBuffer[] values; // float32 or float16
    private final OnnxTensor[] keyTensors;   // [layers] head_major_shared only: [1, kvHeads, bufferRows, headDim] over keys[l]
    private final OnnxTensor[] valueTensors; // [layers] same over values[l]

    /**
     * Allocates every buffer (the geometry was checked by the runner).
     *
     * @param env environment for the tensors
     * @param owner the runner that made it
     * @param g sizes and layout
     * @throws SkipperException if one buffer would exceed 2 GiB or the memory cannot be allocated
     */
    OrtKvCache(OrtEnvironment env, OrtModelRunner owner, KvGeometry g) throws SkipperException {
        super(owner, g);
        g.checkBufferAtMost(Integer.MAX_VALUE); // one direct buffer per layer and K/V
        this.env = env;
        this.fp16 = g.elementBytes() == 2;
        this.rowBytes = (int) g.rowBytes();
        long bufferBytes = g.bufferBytes();
        String what = "a KV cache of maxSeq " + g.maxSeq() + " (" + DirectBuffers.mib(g.totalBytes()) + " in all)";
        int numLayers = g.numLayers();
        this.keys = new ByteBuffer[numLayers];
        this.values = new ByteBuffer[numLayers];
        for (int l = 0; l < numLayers; l++) {
            keys[l] = DirectBuffers.allocate(bufferBytes, what);
            values[l] = DirectBuffers.allocate(bufferBytes, what);
        }
        this.keyTensors = new OnnxTensor[g.headMajor() ? numLayers : 0];
        this.valueTensors = new OnnxTensor[g.headMajor() ? numLayers : 0];
        if (g.headMajor()) {
            try {
                for (int l = 0; l < numLayers; l++) {
                    keyTensors[l] = Tensors.activations(env, keys[l], 0, (int) bufferBytes, fp16, 1, g.kvHeads(),
                            g.bufferRows(), g.headDim());
                    valueTensors[l] = Tensors.activations(env, values[l], 0, (int) bufferBytes, fp16, 1, g.kvHeads(),
                            g.bufferRows(), g.headDim());
                }
            } catch (OrtException e) {
                close();
                throw new SkipperException("cannot create KV cache tensors: " + e.getMessage(), e);
            }
        }
    }

    @Override
    protected void releaseBuffers() {
        for (int l = 0; l < keyTensors.length; l++) {
            Tensors.closeQuietly(keyTensors[l]);
            Tensors.closeQuietly(valueTensors[l]);
            keyTensors[l] = null;
            valueTensors[l] = null;
        }
        keys = null;
        values = null;
    }

    @Override
    protected float element(int layer, boolean value, long index) {
        ByteBuffer buffer = value ? values[layer] : keys[layer];
        int at = (int) (index * (fp16 ? 2 : 4));
        return fp16 ? Half.toFloat(buffer.getShort(at)) : buffer.getFloat(at);
    }

    /**
     * The whole-capacity tensor of a layer (head_major_shared): past input and present output.
     *
     * @param layer layer index
     * @param value values (else keys)
     * @return the cache's own tensor (do not close)
     */
    OnnxTensor whole(int layer, boolean value) {
        return value ? valueTensors[layer] : keyTensors[layer];
    }

    /**
     * A tensor {@code [1, count, kvHeads, headDim]} (sequence_major) over rows {@code [row, row+count)} of a layer's
     * keys or values: the past prefix as input, or the rows a run writes as a pinned output.
     *
     * @param layer layer index
     * @param value values (else keys)
     * @param row first row
     * @param count rows, may be 0
     * @return a tensor aliasing the cache; the caller closes it
     * @throws OrtException if ONNX Runtime rejects it
     */
    OnnxTensor rows(int layer, boolean value, int row, int count) throws OrtException {
        ByteBuffer buffer = value ? values[layer] : keys[layer];
        KvGeometry g = geometry();
        return Tensors.activations(env, buffer, row * rowBytes, count * rowBytes, fp16, 1, count, g.kvHeads(),
                g.headDim());
    }
}
