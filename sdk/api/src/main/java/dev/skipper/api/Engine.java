package dev.skipper.api;

/**
 * A loaded bundle on a backend: thread-safe, loaded once, shared by many sessions that may
 * generate concurrently. Close it after its sessions.
 */
public interface Engine extends AutoCloseable {
    /** @return the bundle's manifest */
    BundleManifest manifest();

    /** @return the backend in use ({@code cpu}, {@code cuda}, {@code tensorrt}) */
    String backendName();

    /**
     * @return a new session with its own KV cache of the engine's context length
     * @throws SkipperException if its buffers cannot be allocated
     */
    Session newSession() throws SkipperException;

    /** Closes the backend's native objects; idempotent. */
    @Override
    void close();
}
