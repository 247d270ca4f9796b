package dev.skipper.runtime.spi;

/**
 * One sequence's KV cache: per layer a preallocated K and V buffer
 * {@code [maxSeq][kvHeads*headDim]} (the bundle's {@code sequence_major} layout) and a valid length.
 *
 * <p>Lengths are per layer because early-exit drafting runs only the first layers for drafted
 * tokens. Dropping tokens is setting lengths (O(1), nothing copied). Owned by one session; not
 * thread-safe. Close it to free its native memory.
 */
public interface KvCache extends AutoCloseable {
    /** @return capacity in tokens */
    int maxSeq();

    /**
     * @param layer layer index
     * @return valid tokens in that layer's cache
     */
    int length(int layer);

    /**
     * Drops every layer's tokens after {@code length} (layers holding fewer keep theirs).
     *
     * @param length tokens to keep, &gt;= 0
     */
    void truncate(int length);

    /**
     * Drops one layer's tokens after {@code length} (speculative drafting leaves inexact rows in
     * the layers after a skipped one; verification drops them first).
     *
     * @param layer layer index
     * @param length tokens to keep in that layer, &gt;= 0 (a layer holding fewer keeps its own)
     */
    void truncateLayer(int layer, int length);

    /** Frees the buffers; idempotent. */
    @Override
    void close();
}
