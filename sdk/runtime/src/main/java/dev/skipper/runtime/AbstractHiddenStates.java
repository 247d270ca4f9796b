package dev.skipper.runtime;

import dev.skipper.runtime.spi.HiddenStates;

/**
 * The backend-neutral half of {@link HiddenStates}: the row count, the row checks; the owner and
 * close-once semantics are {@link OwnedBuffers}'. A backend adds its buffers.
 *
 * <p>Not thread-safe: one sequence, one thread at a time.
 */
public abstract class AbstractHiddenStates extends OwnedBuffers implements HiddenStates {
    private final int maxTokens;
    private final int hiddenSize;

    /**
     * @param owner the runner that makes it
     * @param maxTokens rows, at least 1 (checked by the runner before allocation)
     * @param hiddenSize floats per row
     */
    protected AbstractHiddenStates(Object owner, int maxTokens, int hiddenSize) {
        super(owner, "hidden states");
        if (maxTokens < 1 || hiddenSize < 1) {
            throw new IllegalArgumentException("hidden states need at least 1 row and column");
        }
        this.maxTokens = maxTokens;
        this.hiddenSize = hiddenSize;
    }

    @Override
    public final int maxTokens() {
        return maxTokens;
    }

    /** @return floats per row */
    public final int hiddenSize() {
        return hiddenSize;
    }

    @Override
    public final float[] read(int row, int count) {
        ensureOpen();
        checkRows(row, count);
        float[] out = new float[count * hiddenSize];
        readCurrent(row, count, out);
        return out;
    }

    /**
     * Copies rows of the latest hidden state out, widened to float.
     *
     * @param row first row (checked)
     * @param count rows (checked)
     * @param out destination {@code [count * hidden]}
     */
    protected abstract void readCurrent(int row, int count, float[] out);

    /**
     * @param row first row
     * @param count rows, at least 1
     * @throws IndexOutOfBoundsException if the rows do not fit
     */
    public final void checkRows(int row, int count) {
        if (row < 0 || count < 1 || row > maxTokens - count) {
            throw new IndexOutOfBoundsException("rows [" + row + ", " + row + "+" + count + ") of hidden states with "
                    + maxTokens + " rows");
        }
    }
}
