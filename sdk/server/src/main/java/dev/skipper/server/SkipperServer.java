package dev.skipper.server;

import dev.skipper.api.Engine;
import dev.skipper.api.SkipperException;
import java.io.IOException;
import java.net.URI;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * An OpenAI-compatible HTTP server over one {@link Engine} (docs/server.md).
 *
 * <pre>{@code
 * try (Engine engine = Skipper.open(config);
 *      SkipperServer server = SkipperServer.start(engine, ServerOptions.loopback("smollm2", defaults))) {
 *     server.awaitStop();
 * }
 * }</pre>
 *
 * <p>It owns its session pool (opened at start: every session's KV cache is allocated before the
 * port opens) but not the engine, which the caller closes after the server.
 */
public final class SkipperServer implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(SkipperServer.class.getName());
    /** Idle time after which a connection with no request in progress is closed. */
    static final long IDLE_TIMEOUT_MS = 30_000;
    /** Largest request line plus headers. */
    static final int MAX_HEADER_BYTES = 16 * 1024;

    private final Server server;
    private final ServerConnector connector;
    private final SessionPool pool;
    private final OpenAiHandler handler;
    private final ScheduledExecutorService timers;
    private final ServerOptions options;
    private final int port; // as bound at start (the connector forgets it once stopped)
    private boolean closed;

    private SkipperServer(Server server, ServerConnector connector, SessionPool pool, OpenAiHandler handler,
                          ScheduledExecutorService timers, ServerOptions options) {
        this.server = server;
        this.connector = connector;
        this.pool = pool;
        this.handler = handler;
        this.timers = timers;
        this.options = options;
        this.port = connector.getLocalPort();
    }

    /**
     * Opens the session pool and starts listening.
     *
     * @param engine the engine (not closed by the server)
     * @param options address, limits, pool
     * @return the running server
     * @throws IllegalArgumentException if the bind rule is broken (non-loopback without a key or {@code insecure})
     * @throws SkipperException if a session cannot be opened
     * @throws IOException if the port cannot be bound
     */
    public static SkipperServer start(Engine engine, ServerOptions options) throws SkipperException, IOException {
        options.checkBind();
        SessionPool pool = new SessionPool(engine, options.sessions(), options.queueCapacity());
        ScheduledExecutorService timers = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "skipper-server-deadlines");
            t.setDaemon(true);
            return t;
        });
        // Threads: one per generating or waiting request, plus a few for accepting, selecting and
        // quick requests (health, metrics). Requests past those wait in Jetty's queue briefly.
        int threads = options.sessions() + options.queueCapacity() + 8;
        QueuedThreadPool threadPool = new QueuedThreadPool(threads, Math.min(threads, 4));
        threadPool.setName("skipper-server");
        threadPool.setDaemon(true);
        Server server = new Server(threadPool);
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        http.setSendDateHeader(true);
        http.setRequestHeaderSize(MAX_HEADER_BYTES);
        ServerConnector connector = new ServerConnector(server, new HttpConnectionFactory(http));
        connector.setHost(options.host());
        connector.setPort(options.port());
        connector.setIdleTimeout(IDLE_TIMEOUT_MS);
        server.addConnector(connector);
        ServerMetrics metrics = new ServerMetrics(pool::queued, pool::busy, pool.size());
        OpenAiHandler handler = new OpenAiHandler(pool, options, metrics, timers);
        server.setHandler(handler);
        server.setStopTimeout(0); // close() drains first
        try {
            server.start();
        } catch (Exception e) {
            pool.close();
            timers.shutdownNow();
            try {
                server.stop();
            } catch (Exception ignored) {
                // already failed to start
            }
            if (e instanceof IOException io) {
                throw new IOException("cannot listen on " + options.host() + ":" + options.port() + ": "
                        + io.getMessage(), io);
            }
            throw new IOException("cannot start the server: " + e, e);
        }
        return new SkipperServer(server, connector, pool, handler, timers, options);
    }

    /** @return the port it listens on (the chosen one when the options said 0) */
    public int port() {
        return port;
    }

    /** @return {@code http://host:port} */
    public URI uri() {
        String host = options.host().contains(":") ? "[" + options.host() + "]" : options.host();
        return URI.create("http://" + host + ":" + port());
    }

    /**
     * Blocks until the server stops (another thread's {@link #close}).
     *
     * @throws InterruptedException if interrupted
     */
    public void awaitStop() throws InterruptedException {
        server.join();
    }

    /**
     * Graceful stop: new requests get a 503 at once, running ones get up to the options' shutdown
     * grace to finish, then they are cancelled (each stops within one decoding step and answers
     * with what it has); then the port closes and the sessions are freed. Idempotent.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        handler.drain();
        pool.refuseNew();
        try {
            if (!pool.awaitIdle(options.shutdownGrace().toNanos())) {
                LOG.log(System.Logger.Level.WARNING, "shutdown: cancelling " + pool.busy()
                        + " request(s) still running after " + options.shutdownGrace().toMillis() + " ms");
                pool.cancelAll();
                pool.awaitIdle(TimeUnit.SECONDS.toNanos(10));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            pool.cancelAll();
        }
        try {
            server.stop();
        } catch (Exception e) {
            LOG.log(System.Logger.Level.WARNING, "shutdown: stopping the HTTP server: " + e);
        }
        timers.shutdownNow();
        pool.close();
    }
}
