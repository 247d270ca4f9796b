package dev.skipper.runtime.spi;

/**
 * A backend-owned working buffer of hidden states {@code [maxTokens][hidden]} that embedding, layer
 * and head calls read and write in place, so a decode step moves no activations through Java
 * arrays. Not thread-safe; close it to free native memory.
 */
public interface HiddenStates extends AutoCloseable {
    /** @return rows available */
    int maxTokens();

    /**
     * Copies rows out (for tests and calibration, not the hot loop).
     *
     * @param row first row
     * @param count rows
     * @return {@code [count * hidden]} floats
     */
    float[] read(int row, int count);

    /** Frees the buffer; idempotent. */
    @Override
    void close();
}
