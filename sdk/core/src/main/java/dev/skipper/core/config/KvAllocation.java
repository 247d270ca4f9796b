package dev.skipper.core.config;

import java.util.Locale;

/** How a session's host KV cache takes its memory ({@code memory.kv_cache}). */
public enum KvAllocation {
    /**
     * Start with room for a few hundred tokens and double up to the context when a run needs more:
     * resident memory follows the conversation, for a copy of the valid rows per doubling.
     */
    GROW,
    /** The whole context when the session opens: decoding never allocates (real-time loops). */
    PREALLOCATE;

    /**
     * The spelling in deployment files.
     *
     * @return {@code grow} or {@code preallocate}
     */
    public String yamlName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
