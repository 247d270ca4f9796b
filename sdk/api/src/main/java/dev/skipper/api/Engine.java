package dev.skipper.api;

/**
 * A loaded bundle on a backend: thread-safe, loaded once, shared by many sessions that may
 * generate concurrently. Close it after its sessions.
 */
public interface Engine extends AutoCloseable {
    /** @return the loaded model: name, sizes, and the recipe its bundle computes with */
    ModelInfo model();

    /** @return the backend in use ({@code cpu}, {@code cuda}, {@code tensorrt}) */
    String backendName();

    /**
     * @return a new session with its own KV cache of the engine's context length
     * @throws SkipperException if its buffers cannot be allocated
     */
    Session newSession() throws SkipperException;

    /**
     * Nanoseconds spent inside the backend runtime (e.g. {@code OrtSession.run}) by all sessions
     * since the engine opened; with wall time it splits generation time into runtime and Java-side
     * overhead (what {@code ./skipper bench} reports).
     *
     * @return the sum, or -1 when the backend does not measure it
     */
    default long runtimeNanos() {
        return -1;
    }

    /** Closes the backend's native objects; idempotent. */
    @Override
    void close();
}
