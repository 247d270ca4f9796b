package dev.skipper.ort;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import dev.skipper.api.SkipperException;
import dev.skipper.runtime.AbstractKvCache;
import dev.skipper.runtime.BufferCopy;
import dev.skipper.runtime.DirectBuffers;
import dev.skipper.runtime.Half;
import dev.skipper.runtime.KvGeometry;
import java.nio.ByteBuffer;

/**
 * One sequence's KV cache for the ONNX Runtime backend: per layer one direct K and one direct V
 * buffer in the bundle's layout, plus a valid length per layer.
 *
 * <ul>
 *   <li>{@code sequence_major} {@code [rows][kvHeads][headDim]}: the layer graphs read the valid
 *       prefix as {@code past_key}/{@code past_value} tensors that alias the buffers, and ONNX
 *       Runtime writes the new rows ({@code key}/{@code value} outputs) in place at rows
 *       {@code length .. length+count-1} through pinned outputs. The views change shape with the
 *       length, so they are made per call.</li>
 *   <li>{@code head_major_shared} {@code [kvHeads][rows][headDim]}: one tensor per buffer over all of
 *       its rows, made when the buffer is, is both the graph's past input and its pinned present
 *       output; GroupQueryAttention appends in place. A decode step creates no tensor.</li>
 * </ul>
 * The buffers hold {@code kv_cache.scratch_rows} more rows than the tokens they can cache: the ort
 * flavour's layer graphs write the K/V of a repeated last token there (batch invariance), and they are
 * never valid. Either way nothing is copied per step and truncation only lowers lengths.
 *
 * <p><b>Growing with the sequence</b> (the default): a layer's buffers start at
 * {@value #INITIAL_ROWS} tokens (or the capacity, when smaller) and double, up to the capacity, when a
 * run needs more rows: the valid rows are copied, the tensors remade and the old memory freed at
 * once. Memory then follows the conversation instead of the configured context (SmolLM2 at 2,048
 * tokens: 47 MB preallocated, ~6 MB for a short chat), for a few copies of the valid prefix per
 * doubling. Preallocated ({@code memory.kv_cache: preallocate}), every buffer covers the whole
 * capacity from the start and decoding never allocates (real-time loops that must not pause).
 *
 * <p>Lengths, the room check and close-once semantics are {@link AbstractKvCache}'s. Not
 * thread-safe: one sequence, one thread at a time. {@link #close()} closes the tensors and frees the
 * buffers.
 */
public final class OrtKvCache extends AbstractKvCache {
    /** Tokens a growing layer's buffers hold at first. */
    static final int INITIAL_ROWS = 256;

    private final OrtEnvironment env;
    private final boolean fp16;
    private final int rowBytes; // bytes of one token's row: kvHeads*headDim*sizeof(dtype)

    // sequence_major: [layers][rows[l]][kvHeads][headDim]; head_major_shared: [layers][kvHeads][rows[l]][headDim]
    private ByteBuffer[] keys;   // rotated keys, float32 or float16
    private ByteBuffer[] values; // float32 or float16
    private final int[] rows;    // [layers] rows each layer's K and V buffers hold now, scratch rows included
    private final OnnxTensor[] keyTensors;   // [layers] head_major_shared only: [1, kvHeads, rows[l], headDim] over keys[l]
    private final OnnxTensor[] valueTensors; // [layers] same over values[l]

    /**
     * Allocates every layer's buffers for {@code initialTokens} tokens (the whole capacity when it is
     * at least that); they grow from there (the geometry was checked by the runner).
     *
     * @param env environment for the tensors
     * @param owner the runner that made it
     * @param g sizes and layout
     * @param initialTokens tokens the buffers hold at first, at least 1 ({@value #INITIAL_ROWS} when
     *     they grow with the sequence, else {@code g.maxSeq()})
     * @throws SkipperException if one buffer would exceed 2 GiB or the memory cannot be allocated
     */
    OrtKvCache(OrtEnvironment env, OrtModelRunner owner, KvGeometry g, int initialTokens) throws SkipperException {
        super(owner, g);
        if (initialTokens < 1) {
            throw new IllegalArgumentException("a KV cache needs room for at least 1 token, got " + initialTokens);
        }
        g.checkBufferAtMost(Integer.MAX_VALUE); // one direct buffer per layer and K/V
        this.env = env;
        this.fp16 = g.elementBytes() == 2;
        this.rowBytes = (int) g.rowBytes();
        int numLayers = g.numLayers();
        this.keys = new ByteBuffer[numLayers];
        this.values = new ByteBuffer[numLayers];
        this.rows = new int[numLayers];
        this.keyTensors = new OnnxTensor[g.headMajor() ? numLayers : 0];
        this.valueTensors = new OnnxTensor[g.headMajor() ? numLayers : 0];
        int tokens = Math.min(g.maxSeq(), initialTokens);
        try {
            for (int l = 0; l < numLayers; l++) {
                resize(l, tokens + g.scratchRows());
            }
        } catch (SkipperException | RuntimeException e) {
            close();
            throw e;
        }
    }

    @Override
    protected void reserve(int layer, int needed) throws SkipperException {
        KvGeometry g = geometry();
        if (needed + g.scratchRows() <= rows[layer]) {
            return;
        }
        int held = rows[layer] - g.scratchRows();
        int tokens = (int) Math.min(g.maxSeq(), Math.max(needed, 2L * held));
        resize(layer, tokens + g.scratchRows());
    }

    /**
     * Gives a layer buffers of {@code newRows} rows holding its valid rows, then frees the old ones.
     * On failure the layer keeps its old buffers.
     */
    private void resize(int layer, int newRows) throws SkipperException {
        KvGeometry g = geometry();
        long bytes = (long) newRows * rowBytes;
        String what = "the KV cache of layer " + layer + " (" + newRows + " rows; " + DirectBuffers.mib(g.totalBytes())
                + " for all " + g.maxSeq() + " tokens)";
        ByteBuffer k = DirectBuffers.allocate(bytes, what);
        ByteBuffer v;
        try {
            v = DirectBuffers.allocate(bytes, what);
        } catch (SkipperException e) {
            DirectBuffers.free(k);
            throw e;
        }
        OnnxTensor kt = null;
        OnnxTensor vt = null;
        if (g.headMajor()) {
            try {
                kt = Tensors.activations(env, k, 0, (int) bytes, fp16, 1, g.kvHeads(), newRows, g.headDim());
                vt = Tensors.activations(env, v, 0, (int) bytes, fp16, 1, g.kvHeads(), newRows, g.headDim());
            } catch (OrtException e) {
                Tensors.closeQuietly(kt);
                DirectBuffers.free(k);
                DirectBuffers.free(v);
                throw new SkipperException("cannot create KV cache tensors: " + e.getMessage(), e);
            }
        }
        if (keys[layer] != null) {
            int valid = length(layer);
            copyValid(keys[layer], k, rows[layer], newRows, valid);
            copyValid(values[layer], v, rows[layer], newRows, valid);
        }
        releaseLayer(layer);
        keys[layer] = k;
        values[layer] = v;
        rows[layer] = newRows;
        if (g.headMajor()) {
            keyTensors[layer] = kt;
            valueTensors[layer] = vt;
        }
    }

    /** Copies rows {@code [0, valid)} between buffers of {@code fromRows} and {@code toRows} rows. */
    private void copyValid(ByteBuffer from, ByteBuffer to, int fromRows, int toRows, int valid) {
        KvGeometry g = geometry();
        if (!g.headMajor()) {
            BufferCopy.put(to, 0, from, 0, valid * rowBytes);
            return;
        }
        int headRowBytes = g.headDim() * g.elementBytes();
        for (int h = 0; h < g.kvHeads(); h++) {
            BufferCopy.put(to, h * toRows * headRowBytes, from, h * fromRows * headRowBytes, valid * headRowBytes);
        }
    }

    /** Closes a layer's tensors, then frees the memory they were over. */
    private void releaseLayer(int layer) {
        if (keyTensors.length > 0) {
            Tensors.closeQuietly(keyTensors[layer]);
            Tensors.closeQuietly(valueTensors[layer]);
            keyTensors[layer] = null;
            valueTensors[layer] = null;
        }
        DirectBuffers.free(keys[layer]);
        DirectBuffers.free(values[layer]);
        keys[layer] = null;
        values[layer] = null;
        rows[layer] = 0;
    }

    @Override
    protected void releaseBuffers() {
        if (keys == null) {
            return;
        }
        for (int l = 0; l < keys.length; l++) {
            releaseLayer(l);
        }
        keys = null;
        values = null;
    }

    @Override
    protected int bufferRows(int layer) {
        return rows[layer];
    }

    /** @return bytes the K and V buffers of every layer hold now */
    long heldBytes() {
        long sum = 0;
        for (int r : rows) {
            sum += 2L * r * rowBytes;
        }
        return sum;
    }

    @Override
    protected float element(int layer, boolean value, long index) {
        ByteBuffer buffer = value ? values[layer] : keys[layer];
        int at = (int) (index * (fp16 ? 2 : 4));
        return fp16 ? Half.toFloat(buffer.getShort(at)) : buffer.getFloat(at);
    }

    /**
     * The whole-buffer tensor of a layer (head_major_shared): past input and present output. Valid
     * until the next {@link #reserve} of that layer (the runner asks for it after).
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
