package dev.skipper.tensorrt;

import dev.skipper.api.SkipperException;
import dev.skipper.runtime.DirectBuffers;

/**
 * Whether a bundle fits the device before anything is allocated: weights (the graph files' sizes,
 * what the engines hold), the KV cache of the requested context, and the workspace (execution
 * context memory and staging buffers) against the device's free memory.
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
        throw new SkipperException("not enough memory on " + where + ": a context of " + context + " tokens needs "
                + DirectBuffers.mib(need) + " (weights " + DirectBuffers.mib(weightsBytes) + " + KV "
                + DirectBuffers.mib(required(context) - weightsBytes - workspaceBytes) + " + workspace "
                + DirectBuffers.mib(workspaceBytes) + "), " + DirectBuffers.mib(freeBytes) + " is free; "
                + (fits > 0 ? "the largest context that fits is " + fits + " tokens"
                        : "not even the weights fit"));
    }
}
