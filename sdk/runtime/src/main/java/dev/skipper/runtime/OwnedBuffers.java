package dev.skipper.runtime;

import java.util.Objects;

/**
 * What a backend's per-sequence buffers ({@link AbstractKvCache}, {@link AbstractHiddenStates})
 * share: the runner that made them (calls with another runner's buffers are refused) and close-once
 * semantics (close frees the backend's memory once; any use after it fails).
 */
public abstract class OwnedBuffers implements AutoCloseable {
    private final Object owner;
    private final String what;
    private boolean closed;

    /**
     * @param owner the runner that makes them
     * @param what what they are, for the message after close ("KV cache")
     */
    protected OwnedBuffers(Object owner, String what) {
        this.owner = Objects.requireNonNull(owner, "owner");
        this.what = what;
    }

    /** @return the runner that created these buffers */
    public final Object owner() {
        return owner;
    }

    /** Frees the backend's buffers; called once, by {@link #close()}. */
    protected abstract void releaseBuffers();

    /** Frees the buffers; idempotent. */
    @Override
    public final void close() {
        if (closed) {
            return;
        }
        closed = true;
        releaseBuffers();
    }

    /** @return whether close() was called */
    public final boolean isClosed() {
        return closed;
    }

    /** @throws IllegalStateException after close */
    public final void ensureOpen() {
        if (closed) {
            throw new IllegalStateException(what + " is closed");
        }
    }
}
