package dev.skipper.runtime;

import dev.skipper.api.SkipperException;
import dev.skipper.runtime.spi.KvCache;
import java.util.Objects;

/**
 * The backend-neutral half of a {@link KvCache}: the geometry, a valid length per layer, the room
 * check ({@link OwnedBuffers}: the owner and close-once semantics). A backend adds only its buffers and
 * their views.
 *
 * <p>Not thread-safe: one sequence, one thread at a time.
 */
public abstract class AbstractKvCache extends OwnedBuffers implements KvCache {
    private final KvGeometry geometry;
    private final int[] lengths; // [layers] valid rows per layer

    /**
     * @param owner the runner that makes it (calls from another runner are refused)
     * @param geometry sizes and layout
     */
    protected AbstractKvCache(Object owner, KvGeometry geometry) {
        super(owner, "KV cache");
        this.geometry = Objects.requireNonNull(geometry, "geometry");
        this.lengths = new int[geometry.numLayers()];
    }

    /** @return sizes and layout */
    public final KvGeometry geometry() {
        return geometry;
    }

    @Override
    public final int maxSeq() {
        return geometry.maxSeq();
    }

    @Override
    public final int length(int layer) {
        ensureOpen();
        return lengths[checkLayer(layer)];
    }

    @Override
    public final void truncate(int length) {
        ensureOpen();
        if (length < 0) {
            throw new IllegalArgumentException("cannot truncate a KV cache to " + length + " tokens");
        }
        for (int l = 0; l < lengths.length; l++) {
            lengths[l] = Math.min(lengths[l], length);
        }
    }

    @Override
    public final void truncateLayer(int layer, int length) {
        ensureOpen();
        if (length < 0) {
            throw new IllegalArgumentException("cannot truncate a KV cache layer to " + length + " tokens");
        }
        checkLayer(layer);
        lengths[layer] = Math.min(lengths[layer], length);
    }

    /**
     * Where {@code count} new rows of a layer go, after checking that they fit.
     *
     * @param layer layer index
     * @param count new rows, at least 1
     * @return the layer's cached length
     * @throws SkipperException when the cache has no room for them
     */
    public final int appendStart(int layer, int count) throws SkipperException {
        int past = length(layer);
        if (count > geometry.maxSeq() - past) {
            throw new SkipperException("layer " + layer + ": " + past + " cached + " + count
                    + " new tokens exceed the KV cache of " + geometry.maxSeq());
        }
        reserve(layer, past + count);
        return past;
    }

    /**
     * Makes a layer's buffers hold at least {@code rows} valid rows (plus the scratch rows) before a
     * run writes them; rows {@code [0, length(layer))} keep their values. A backend whose buffers
     * cover the whole capacity from the start (the default) does nothing; one that grows them with
     * the sequence reallocates here.
     *
     * @param layer layer index
     * @param rows rows needed, at most {@link #maxSeq()}
     * @throws SkipperException when the memory cannot be allocated (the cache is unchanged)
     */
    protected void reserve(int layer, int rows) throws SkipperException {
    }

    /**
     * Rows a layer's buffers hold now, scratch rows included: the layout's row stride for
     * head-major buffers.
     *
     * @param layer layer index
     * @return {@link KvGeometry#bufferRows()} unless the backend grows its buffers
     */
    protected int bufferRows(int layer) {
        return geometry.bufferRows();
    }

    /**
     * Marks rows as written after a successful layer run (after {@link #appendStart}).
     *
     * @param layer layer index
     * @param count rows appended
     */
    public final void advance(int layer, int count) {
        lengths[layer] += count;
    }

    /**
     * Copies cached rows out (tests and debugging, not the hot loop).
     *
     * @param layer layer index
     * @param value values (else keys)
     * @param row first row
     * @param count rows
     * @return {@code [count][kvHeads][headDim]} floats whatever the layout
     */
    public final float[] read(int layer, boolean value, int row, int count) {
        ensureOpen();
        checkLayer(layer);
        if (row < 0 || count < 0 || row > geometry.maxSeq() - count) {
            throw new IndexOutOfBoundsException("rows " + row + "+" + count + " of a cache of " + geometry.maxSeq());
        }
        int kvHeads = geometry.kvHeads();
        int headDim = geometry.headDim();
        int rows = bufferRows(layer);
        float[] out = new float[count * geometry.rowElements()];
        for (int t = 0; t < count; t++) {
            for (int h = 0; h < kvHeads; h++) {
                for (int d = 0; d < headDim; d++) {
                    out[(t * kvHeads + h) * headDim + d] = element(layer, value,
                            geometry.elementIndex(row + t, h, d, rows));
                }
            }
        }
        return out;
    }

    /**
     * One element of a layer's buffer, widened to float (for {@link #read}).
     *
     * @param layer layer index
     * @param value values (else keys)
     * @param index element index in the layout ({@link KvGeometry#elementIndex})
     * @return the value
     */
    protected abstract float element(int layer, boolean value, long index);

    /**
     * @param layer a layer index
     * @return it
     * @throws IndexOutOfBoundsException when it is not one of the cache's layers
     */
    public final int checkLayer(int layer) {
        if (layer < 0 || layer >= lengths.length) {
            throw new IndexOutOfBoundsException("layer " + layer + " of " + lengths.length);
        }
        return layer;
    }
}
