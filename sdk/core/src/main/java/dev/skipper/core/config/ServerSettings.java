package dev.skipper.core.config;

import java.nio.file.Path;

/**
 * The {@code server:} section of a deployment file: how {@code skipper serve} listens and how many
 * requests it runs and queues (docs/server.md). Command-line flags override each key.
 *
 * @param host address to bind (loopback unless said otherwise)
 * @param port TCP port
 * @param sessions sessions in the pool, each with a KV cache of the deployment's context
 * @param queue requests that may wait for a session (one more gets a 429)
 * @param maxBodyBytes largest request body (413 beyond)
 * @param requestTimeoutSeconds a request's deadline, waiting plus generating
 * @param shutdownGraceSeconds how long a shutdown lets running requests finish
 * @param apiKeyFile file holding the API key (first line), or {@code null}
 */
public record ServerSettings(String host, int port, int sessions, int queue, int maxBodyBytes,
                             double requestTimeoutSeconds, double shutdownGraceSeconds, Path apiKeyFile) {
    /** Most sessions a pool may have. */
    public static final int MAX_SESSIONS = 256;
    /** Most queued requests (each waits on a thread). */
    public static final int MAX_QUEUE = 256;
    /** Loopback, port 8080, one session, 16 queued, 1 MiB bodies, 600 s deadline, 10 s grace. */
    public static final ServerSettings DEFAULTS = new ServerSettings("127.0.0.1", 8080, 1, 16, 1 << 20, 600, 10, null);

    public ServerSettings {
        if (host == null || host.isBlank()) {
            throw new IllegalArgumentException("server.host must not be empty");
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("server.port must be in [0, 65535], got " + port);
        }
        if (sessions < 1 || sessions > MAX_SESSIONS) {
            throw new IllegalArgumentException("server.sessions must be in [1, " + MAX_SESSIONS + "], got " + sessions);
        }
        if (queue < 0 || queue > MAX_QUEUE) {
            throw new IllegalArgumentException("server.queue must be in [0, " + MAX_QUEUE + "], got " + queue);
        }
        if (maxBodyBytes < 1024 || maxBodyBytes > (64 << 20)) {
            throw new IllegalArgumentException("server.max_body_bytes must be in [1024, 67108864], got " + maxBodyBytes);
        }
        if (!(requestTimeoutSeconds > 0 && requestTimeoutSeconds <= 86_400)) {
            throw new IllegalArgumentException("server.request_timeout_s must be in (0, 86400], got "
                    + requestTimeoutSeconds);
        }
        if (!(shutdownGraceSeconds >= 0 && shutdownGraceSeconds <= 3600)) {
            throw new IllegalArgumentException("server.shutdown_grace_s must be in [0, 3600], got "
                    + shutdownGraceSeconds);
        }
    }
}
