package dev.skipper.runtime;

import dev.skipper.api.SkipperException;

/**
 * Whether a bundle fits its memory before anything is allocated (a GPU's, or the host's RAM for the
 * cpu backend): weights (the graph files' sizes: what the engines or sessions hold), the KV cache
 * of the requested context, and the workspace (activations and staging buffers) against the free
 * memory. Shared by the backends.
 *
 * @param weightsBytes bytes of the weights
 * @param kvBytesPerToken K and V of every layer for one token
 * @param workspaceBytes activations and staging
 */
public record MemoryPreflight(long weightsBytes, long kvBytesPerToken, long workspaceBytes) {
    /** Validates. */
    public MemoryPreflight {
        if (weightsBytes < 0 || kvBytesPerToken < 1 || workspaceBytes < 0) {
            throw new IllegalArgumentException("invalid preflight sizes");
        }
    }

    /**
     * @param context tokens of KV
     * @return bytes needed (saturating at Long.MAX_VALUE)
     */
    public long required(long context) {
        long kv = context > Long.MAX_VALUE / kvBytesPerToken ? Long.MAX_VALUE : context * kvBytesPerToken;
        long sum = weightsBytes + workspaceBytes;
        return kv > Long.MAX_VALUE - sum ? Long.MAX_VALUE : sum + kv;
    }

    /**
     * @param freeBytes free memory
     * @param maxPosition the model's limit
     * @return the largest context that fits, 0 when not even one token does
     */
    public int largestContext(long freeBytes, int maxPosition) {
        long room = freeBytes - weightsBytes - workspaceBytes;
        if (room < kvBytesPerToken) {
            return 0;
        }
        return (int) Math.min(maxPosition, room / kvBytesPerToken);
    }

    /**
     * @param context requested context
     * @param freeBytes free memory
     * @param maxPosition the model's limit
     * @param where what memory ("GPU 0 (Orin)")
     * @throws SkipperException naming both numbers and the largest context that fits
     */
    public void check(int context, long freeBytes, int maxPosition, String where) throws SkipperException {
        long need = required(context);
        if (need <= freeBytes) {
            return;
        }
        int fits = largestContext(freeBytes, maxPosition);
        StringBuilder parts = new StringBuilder();
        if (weightsBytes > 0) {
            parts.append("weights ").append(DirectBuffers.mib(weightsBytes)).append(" + ");
        }
        parts.append("KV ").append(DirectBuffers.mib(required(context) - weightsBytes - workspaceBytes));
        if (workspaceBytes > 0) {
            parts.append(" + workspace ").append(DirectBuffers.mib(workspaceBytes));
        }
        throw new SkipperException("not enough memory on " + where + ": a context of " + context + " tokens needs "
                + DirectBuffers.mib(need) + " (" + parts + "), " + DirectBuffers.mib(freeBytes) + " is free; "
                + (fits > 0 ? "the largest context that fits is " + fits + " tokens (context_length)"
                        : weightsBytes > 0 ? "not even the weights fit" : "not even one token fits"));
    }
}
