package dev.skipper.api.spi;

/**
 * Backend settings from the deployment file or the API.
 *
 * @param intraOpThreads threads per operator (0 = backend default)
 * @param allowSpinning let idle worker threads spin (faster, burns CPU; off on shared devices)
 * @param verifyHashes check every bundle file's sha256 before loading
 */
public record BackendOptions(int intraOpThreads, boolean allowSpinning, boolean verifyHashes) {
    /** Validates. */
    public BackendOptions {
        if (intraOpThreads < 0) {
            throw new IllegalArgumentException("threads must be >= 0 (0 = default), got " + intraOpThreads);
        }
    }

    /**
     * Defaults: backend's thread count, spinning (a decode step is hundreds of short operators; idle
     * workers that sleep between them make it ~1.6x slower on a 2-core CPU), hashes verified.
     */
    public static final BackendOptions DEFAULTS = new BackendOptions(0, true, true);
}
