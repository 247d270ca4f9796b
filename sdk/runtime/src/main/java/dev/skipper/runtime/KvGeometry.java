package dev.skipper.runtime;

import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.bundle.BundleManifest.KvLayout;

/**
 * The size and layout arithmetic of one sequence's KV cache, the same on every backend: per layer a
 * K and a V buffer of {@link #bufferRows()} rows (the capacity plus the bundle's scratch rows) in the
 * bundle's layout.
 *
 * <ul>
 *   <li>{@code sequence_major}: {@code [bufferRows][kvHeads][headDim]}, a token's row contiguous;
 *   <li>{@code head_major_shared}: {@code [kvHeads][bufferRows][headDim]}, one head's rows
 *       contiguous (what GroupQueryAttention appends to in place).
 * </ul>
 *
 * @param numLayers decoder layers
 * @param maxSeq capacity in tokens
 * @param scratchRows rows after the capacity the layer graphs may write, never valid
 * @param kvHeads key/value heads
 * @param headDim head width
 * @param elementBytes 2 (float16) or 4 (float32)
 * @param layout the bundle's layout
 */
public record KvGeometry(int numLayers, int maxSeq, int scratchRows, int kvHeads, int headDim, int elementBytes,
        KvLayout layout) {
    /** Validates; every byte count below fits a long (checked here once). */
    public KvGeometry {
        if (numLayers < 1 || maxSeq < 1 || scratchRows < 0 || kvHeads < 1 || headDim < 1
                || (elementBytes != 2 && elementBytes != 4) || layout == null) {
            throw new IllegalArgumentException("invalid KV geometry");
        }
        // <= 2^31 rows * 2^31 heads*dims * 4 bytes * 2 * 2^31 layers would overflow: check the product.
        Math.multiplyExact(Math.multiplyExact(Math.multiplyExact((long) kvHeads * headDim * elementBytes,
                (long) maxSeq + scratchRows), 2L), (long) numLayers);
    }

    /**
     * The geometry of a cache of {@code maxSeq} tokens for a bundle.
     *
     * @param manifest the bundle
     * @param maxSeq capacity in tokens, 1 .. the model's max_position
     * @return the geometry
     * @throws SkipperException when maxSeq is out of range or the byte count overflows
     */
    public static KvGeometry of(BundleManifest manifest, int maxSeq) throws SkipperException {
        BundleManifest.ModelDims m = manifest.model();
        if (maxSeq < 1 || maxSeq > m.maxPosition()) {
            throw new SkipperException("KV cache maxSeq " + maxSeq + " must be between 1 and the model's max_position "
                    + m.maxPosition());
        }
        int elementBytes = manifest.kvCache().dtype() == BundleManifest.DType.FLOAT16 ? 2 : 4;
        try {
            return new KvGeometry(m.numLayers(), maxSeq, manifest.kvCache().scratchRows(), m.numKvHeads(), m.headDim(),
                    elementBytes, manifest.kvCache().layout());
        } catch (ArithmeticException e) {
            throw new SkipperException("KV cache of maxSeq " + maxSeq + " overflows a 64-bit byte count");
        }
    }

    /** @return whether the layout is head_major_shared (else sequence_major) */
    public boolean headMajor() {
        return layout == KvLayout.HEAD_MAJOR_SHARED;
    }

    /** @return rows per buffer: the capacity plus the scratch rows */
    public int bufferRows() {
        return maxSeq + scratchRows;
    }

    /** @return floats in one token's row: kvHeads * headDim */
    public int rowElements() {
        return kvHeads * headDim;
    }

    /** @return bytes of one token's row */
    public long rowBytes() {
        return (long) rowElements() * elementBytes;
    }

    /** @return bytes of one layer's K (or V) buffer */
    public long bufferBytes() {
        return rowBytes() * bufferRows();
    }

    /** @return bytes of the whole cache: K and V of every layer */
    public long totalBytes() {
        return bufferBytes() * 2 * numLayers;
    }

    /**
     * The element index of (row, head, d) inside one layer's buffer, in this layout.
     *
     * @param row token row, 0 .. bufferRows-1
     * @param head key/value head
     * @param d index within the head
     * @return the element index (multiply by {@link #elementBytes()} for a byte offset)
     */
    public long elementIndex(int row, int head, int d) {
        return elementIndex(row, head, d, bufferRows());
    }

    /**
     * The element index of (row, head, d) in a buffer that holds {@code rows} rows now (a cache that
     * grows with its sequence holds fewer than {@link #bufferRows()} until it is full).
     *
     * @param row token row, 0 .. rows-1
     * @param head key/value head
     * @param d index within the head
     * @param rows rows the buffer holds, scratch rows included
     * @return the element index
     */
    public long elementIndex(int row, int head, int d, int rows) {
        return headMajor() ? ((long) head * rows + row) * headDim + d
                : ((long) row * kvHeads + head) * headDim + d;
    }

    /**
     * @param maxBytes the most one buffer of the backend may hold
     * @throws SkipperException when one layer's buffer is larger
     */
    public void checkBufferAtMost(long maxBytes) throws SkipperException {
        if (bufferBytes() > maxBytes) {
            throw new SkipperException("KV cache of maxSeq " + maxSeq + " needs " + DirectBuffers.mib(bufferBytes())
                    + " per layer buffer, more than one buffer can hold (" + DirectBuffers.mib(maxBytes) + "); total "
                    + DirectBuffers.mib(totalBytes()));
        }
    }
}
