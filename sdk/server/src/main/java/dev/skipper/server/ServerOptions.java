package dev.skipper.server;

import dev.skipper.api.GenerationOptions;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;

/**
 * How a {@link SkipperServer} listens and what it allows.
 *
 * @param host address to bind: loopback by default; any other address needs an API key or {@code insecure}
 * @param port TCP port, 0 for any free one
 * @param apiKey the key clients must send as {@code Authorization: Bearer KEY}, or {@code null} for none
 * @param insecure allow a non-loopback bind without a key (explicit opt-in)
 * @param modelId the model name {@code /v1/models} lists and requests may name
 * @param defaults generation options a request's fields override (the deployment's)
 * @param sessions sessions in the pool (each holds a KV cache of the engine's context), &gt;= 1
 * @param queueCapacity requests that may wait for a session; one more gets a 429
 * @param maxBodyBytes largest request body (a larger one gets a 413)
 * @param requestTimeout a request's deadline, from arrival: waiting plus generating (it then ends
 *     with what it has, {@code finish_reason: "length"}, or a 503 while still queued)
 * @param shutdownGrace how long {@link SkipperServer#close} lets running requests finish before cancelling them
 */
public record ServerOptions(String host, int port, String apiKey, boolean insecure, String modelId,
                            GenerationOptions defaults, int sessions, int queueCapacity, int maxBodyBytes,
                            Duration requestTimeout, Duration shutdownGrace) {
    /** Default port (llama.cpp's server uses 8080 too). */
    public static final int DEFAULT_PORT = 8080;
    /** Default body limit: 1 MiB holds a full 8k-token conversation many times over. */
    public static final int DEFAULT_MAX_BODY = 1 << 20;

    public ServerOptions {
        if (host == null || host.isBlank()) {
            throw new IllegalArgumentException("host must not be empty");
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port must be in 0..65535, got " + port);
        }
        if (apiKey != null && apiKey.isBlank()) {
            throw new IllegalArgumentException("the API key is empty");
        }
        if (modelId == null || modelId.isBlank()) {
            throw new IllegalArgumentException("model id must not be empty");
        }
        if (defaults == null) {
            throw new IllegalArgumentException("default generation options must be given");
        }
        if (sessions < 1 || sessions > 256) {
            throw new IllegalArgumentException("sessions must be in 1..256, got " + sessions);
        }
        if (queueCapacity < 0 || queueCapacity > 100_000) {
            throw new IllegalArgumentException("queue capacity must be in 0..100000, got " + queueCapacity);
        }
        if (maxBodyBytes < 1024 || maxBodyBytes > (64 << 20)) {
            throw new IllegalArgumentException("max body size must be in 1 KiB..64 MiB, got " + maxBodyBytes);
        }
        if (requestTimeout == null || requestTimeout.isNegative() || requestTimeout.isZero()) {
            throw new IllegalArgumentException("request timeout must be positive");
        }
        if (shutdownGrace == null || shutdownGrace.isNegative()) {
            throw new IllegalArgumentException("shutdown grace must not be negative");
        }
    }

    /**
     * Loopback on {@link #DEFAULT_PORT}, no key, one session, 16 waiting requests, 1 MiB bodies,
     * a 10-minute deadline and 10 s of shutdown grace.
     *
     * @param modelId the served model's name
     * @param defaults the deployment's generation options
     * @return the options
     */
    public static ServerOptions loopback(String modelId, GenerationOptions defaults) {
        return new ServerOptions("127.0.0.1", DEFAULT_PORT, null, false, modelId, defaults, 1, 16, DEFAULT_MAX_BODY,
                Duration.ofMinutes(10), Duration.ofSeconds(10));
    }

    /** @param port the port @return a copy listening there */
    public ServerOptions withPort(int port) {
        return new ServerOptions(host, port, apiKey, insecure, modelId, defaults, sessions, queueCapacity,
                maxBodyBytes, requestTimeout, shutdownGrace);
    }

    /** @param host the address @param apiKey the key or null @param insecure opt-in @return a copy */
    public ServerOptions withBind(String host, String apiKey, boolean insecure) {
        return new ServerOptions(host, port, apiKey, insecure, modelId, defaults, sessions, queueCapacity,
                maxBodyBytes, requestTimeout, shutdownGrace);
    }

    /** @param sessions pool size @param queueCapacity waiting requests @return a copy */
    public ServerOptions withPool(int sessions, int queueCapacity) {
        return new ServerOptions(host, port, apiKey, insecure, modelId, defaults, sessions, queueCapacity,
                maxBodyBytes, requestTimeout, shutdownGrace);
    }

    /** @param maxBodyBytes body limit @param requestTimeout deadline @param shutdownGrace grace @return a copy */
    public ServerOptions withLimits(int maxBodyBytes, Duration requestTimeout, Duration shutdownGrace) {
        return new ServerOptions(host, port, apiKey, insecure, modelId, defaults, sessions, queueCapacity,
                maxBodyBytes, requestTimeout, shutdownGrace);
    }

    /**
     * Checks the bind rule: a host that is not loopback needs an API key or {@code insecure}.
     *
     * @throws IllegalArgumentException if it is broken or the host does not resolve
     */
    void checkBind() {
        InetAddress addr;
        try {
            addr = InetAddress.getByName(host);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("host '" + host + "' does not resolve");
        }
        if (!addr.isLoopbackAddress() && apiKey == null && !insecure) {
            throw new IllegalArgumentException("host " + host + " is not loopback: give an API key "
                    + "(--api-key-file or SKIPPER_API_KEY) or pass --insecure to serve it without one");
        }
    }
}
