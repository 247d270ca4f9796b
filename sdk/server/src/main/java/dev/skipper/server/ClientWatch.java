package dev.skipper.server;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.io.EndPoint;

/**
 * Notices that the client of a non-streamed request has closed its connection while the answer is
 * still being generated, and runs a callback then (it cancels the generation). A non-streamed
 * request writes nothing until it is done, and Jetty reads nothing from an HTTP/1.1 connection
 * while its request is handled, so a closed client would otherwise be noticed only when the whole
 * answer had been generated for nobody. Every {@link #PERIOD_MS} ms the watch reads the
 * connection without blocking: end of stream means the client is gone. Bytes that arrive instead
 * are a pipelined next request, which this server does not serve: they are dropped and the
 * connection closes after this answer ({@link #pipelined}). Close it before the response is
 * written: after {@link #close} returns, no read is in flight.
 */
final class ClientWatch implements AutoCloseable {
    /** How often the connection is checked. */
    static final long PERIOD_MS = 50;

    private final EndPoint endPoint;
    private final Runnable onGone;
    private final ByteBuffer scratch = ByteBuffer.allocate(256); // [256] bytes read and dropped
    private final ScheduledFuture<?> task;
    private boolean stopped;      // guarded by this
    private boolean gone;         // guarded by this
    private boolean pipelined;    // guarded by this

    ClientWatch(EndPoint endPoint, ScheduledExecutorService timers, Runnable onGone) {
        this.endPoint = endPoint;
        this.onGone = onGone;
        this.task = timers.scheduleWithFixedDelay(this::check, PERIOD_MS, PERIOD_MS, TimeUnit.MILLISECONDS);
    }

    private synchronized void check() {
        if (stopped || gone) {
            return;
        }
        try {
            scratch.clear().flip(); // Jetty's fill appends after the limit: start empty
            int n = endPoint.fill(scratch);
            if (n < 0) {
                gone = true;
            } else if (n > 0) {
                pipelined = true;
            }
        } catch (IOException e) {
            gone = true; // a reset connection
        }
        if (gone) {
            // Under the lock: once close() returned, no cancel can reach the session's next request.
            onGone.run();
        }
    }

    /** @return whether the client closed its connection */
    synchronized boolean gone() {
        return gone;
    }

    /** @return whether bytes of another request arrived (and were dropped): close after answering */
    synchronized boolean pipelined() {
        return pipelined;
    }

    @Override
    public void close() {
        task.cancel(false);
        synchronized (this) { // waits for a check in progress
            stopped = true;
        }
    }
}
