package dev.skipper.ort;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import dev.skipper.api.SkipperException;
import dev.skipper.runtime.spi.KvCache;
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
 * <p>Not thread-safe: one sequence, one thread at a time. {@link #close()} closes the tensors and
 * drops the buffers; the direct memory itself is returned when the garbage collector reclaims them
 * (Java has no deterministic free for direct buffers).
 */
public final class OrtKvCache implements KvCache {
    private final OrtEnvironment env;
    private final OrtModelRunner owner;
    private final int numLayers;
    private final int maxSeq;
    private final int bufferRows; // maxSeq + the manifest's kv_cache.scratch_rows (written by the graphs, never valid)
    private final int kvHeads;
    private final int headDim;
    private final boolean fp16;
    private final boolean headMajor; // head_major_shared layout (else sequence_major)
    private final int rowBytes; // bytes of one token's row: kvHeads*headDim*sizeof(dtype)

    // sequence_major: [layers][bufferRows][kvHeads][headDim]; head_major_shared: [layers][kvHeads][bufferRows][headDim]
    private ByteBuffer[] keys;   // rotated keys, float32 or float16
    private ByteBuffer[] values; // float32 or float16
    private final OnnxTensor[] keyTensors;   // [layers] head_major_shared only: [1, kvHeads, bufferRows, headDim] over keys[l]
    private final OnnxTensor[] valueTensors; // [layers] same over values[l]
    private final int[] lengths; // [layers] valid rows per layer
    private boolean closed;

    /**
     * Checks the size, then allocates every buffer.
     *
     * @param env environment for the tensors
     * @param owner the runner that made it
     * @param numLayers decoder layers
     * @param maxSeq capacity in tokens, 1 .. maxPosition
     * @param scratchRows rows after the capacity the layer graphs may write (kv_cache.scratch_rows)
     * @param maxPosition the model's max_position
     * @param kvHeads key/value heads
     * @param headDim head width
     * @param fp16 float16 cache (else float32)
     * @param headMajor the head_major_shared layout (else sequence_major)
     * @throws SkipperException if maxSeq is out of range or the memory cannot be allocated
     */
    OrtKvCache(OrtEnvironment env, OrtModelRunner owner, int numLayers, int maxSeq, int scratchRows, int maxPosition,
               int kvHeads, int headDim, boolean fp16, boolean headMajor) throws SkipperException {
        if (maxSeq < 1 || maxSeq > maxPosition) {
            throw new SkipperException("KV cache maxSeq " + maxSeq + " must be between 1 and the model's max_position "
                    + maxPosition);
        }
        this.env = env;
        this.owner = owner;
        this.numLayers = numLayers;
        this.maxSeq = maxSeq;
        this.bufferRows = maxSeq + scratchRows; // maxSeq <= maxPosition and scratchRows <= 16: no overflow
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.fp16 = fp16;
        this.headMajor = headMajor;
        int elementBytes = fp16 ? 2 : 4;
        long rowBytesLong = (long) kvHeads * headDim * elementBytes;
        long bufferBytes;
        long totalBytes;
        try {
            bufferBytes = Math.multiplyExact(rowBytesLong, (long) bufferRows);
            totalBytes = Math.multiplyExact(Math.multiplyExact(bufferBytes, 2L), (long) numLayers);
        } catch (ArithmeticException e) {
            throw new SkipperException("KV cache of maxSeq " + maxSeq + " overflows a 64-bit byte count");
        }
        if (bufferBytes > Integer.MAX_VALUE) {
            throw new SkipperException("KV cache of maxSeq " + maxSeq + " needs " + Tensors.mib(bufferBytes)
                    + " per layer buffer, more than one direct buffer can hold (2 GiB); total "
                    + Tensors.mib(totalBytes));
        }
        this.rowBytes = (int) rowBytesLong;
        String what = "a KV cache of maxSeq " + maxSeq + " (" + Tensors.mib(totalBytes) + " in all)";
        this.keys = new ByteBuffer[numLayers];
        this.values = new ByteBuffer[numLayers];
        for (int l = 0; l < numLayers; l++) {
            keys[l] = Tensors.allocate(bufferBytes, what);
            values[l] = Tensors.allocate(bufferBytes, what);
        }
        this.lengths = new int[numLayers];
        this.keyTensors = new OnnxTensor[headMajor ? numLayers : 0];
        this.valueTensors = new OnnxTensor[headMajor ? numLayers : 0];
        if (headMajor) {
            try {
                for (int l = 0; l < numLayers; l++) {
                    keyTensors[l] = Tensors.activations(env, keys[l], 0, (int) bufferBytes, fp16, 1, kvHeads, bufferRows, headDim);
                    valueTensors[l] = Tensors.activations(env, values[l], 0, (int) bufferBytes, fp16, 1, kvHeads,
                            bufferRows, headDim);
                }
            } catch (OrtException e) {
                close();
                throw new SkipperException("cannot create KV cache tensors: " + e.getMessage(), e);
            }
        }
    }

    @Override
    public int maxSeq() {
        return maxSeq;
    }

    @Override
    public int length(int layer) {
        ensureOpen();
        return lengths[checkLayer(layer)];
    }

    @Override
    public void truncate(int length) {
        ensureOpen();
        if (length < 0) {
            throw new IllegalArgumentException("cannot truncate a KV cache to " + length + " tokens");
        }
        for (int l = 0; l < numLayers; l++) {
            lengths[l] = Math.min(lengths[l], length);
        }
    }

    @Override
    public void truncateLayer(int layer, int length) {
        ensureOpen();
        if (length < 0) {
            throw new IllegalArgumentException("cannot truncate a KV cache layer to " + length + " tokens");
        }
        checkLayer(layer);
        lengths[layer] = Math.min(lengths[layer], length);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (int l = 0; l < keyTensors.length; l++) {
            Tensors.closeQuietly(keyTensors[l]);
            Tensors.closeQuietly(valueTensors[l]);
            keyTensors[l] = null;
            valueTensors[l] = null;
        }
        keys = null;
        values = null;
    }

    /** @return whether close() was called */
    boolean isClosed() {
        return closed;
    }

    /** @return the runner that created this cache */
    OrtModelRunner owner() {
        return owner;
    }

    /** @return decoder layers this cache has */
    int numLayers() {
        return numLayers;
    }

    /** @return whether the cache holds float16 */
    boolean isFp16() {
        return fp16;
    }

    /** @return whether the cache is head-major and shared between past and present */
    boolean isHeadMajor() {
        return headMajor;
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
        return Tensors.activations(env, buffer, row * rowBytes, count * rowBytes, fp16, 1, count, kvHeads, headDim);
    }

    /**
     * Marks rows as written after a successful layer run.
     *
     * @param layer layer index
     * @param count rows appended
     */
    void advance(int layer, int count) {
        lengths[layer] += count;
    }

    /**
     * Copies cached rows out (tests and debugging).
     *
     * @param layer layer index
     * @param value values (else keys)
     * @param row first row
     * @param count rows
     * @return {@code [count][kvHeads][headDim]} floats
     */
    float[] read(int layer, boolean value, int row, int count) {
        ensureOpen();
        checkLayer(layer);
        if (row < 0 || count < 0 || row + count > maxSeq) {
            throw new IndexOutOfBoundsException("rows " + row + "+" + count + " of a cache of " + maxSeq);
        }
        ByteBuffer buffer = value ? values[layer] : keys[layer];
        int width = kvHeads * headDim;
        int elementBytes = fp16 ? 2 : 4;
        float[] out = new float[count * width]; // [count][kvHeads][headDim] whatever the layout
        for (int t = 0; t < count; t++) {
            for (int h = 0; h < kvHeads; h++) {
                for (int d = 0; d < headDim; d++) {
                    long element = headMajor ? ((long) h * bufferRows + row + t) * headDim + d
                            : ((long) (row + t) * kvHeads + h) * headDim + d;
                    int at = (int) (element * elementBytes);
                    out[(t * kvHeads + h) * headDim + d] = fp16 ? Half.toFloat(buffer.getShort(at)) : buffer.getFloat(at);
                }
            }
        }
        return out;
    }

    /** @throws IllegalStateException after close */
    void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("KV cache is closed");
        }
    }

    private int checkLayer(int layer) {
        if (layer < 0 || layer >= numLayers) {
            throw new IndexOutOfBoundsException("layer " + layer + " of " + numLayers);
        }
        return layer;
    }
}
