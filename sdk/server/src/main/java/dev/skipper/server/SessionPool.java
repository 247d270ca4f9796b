package dev.skipper.server;

import dev.skipper.api.Engine;
import dev.skipper.api.Session;
import dev.skipper.api.SkipperException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A fixed set of sessions (each with its own KV cache, allocated up front) handed to requests in
 * arrival order. At most {@code queueCapacity} requests wait; one more is refused at once (the
 * server answers 429) instead of piling up. A free session is chosen by what it already holds:
 * the one whose last request shares the longest prefix with the new one, so a client that resends
 * its conversation with one more turn finds its KV cache again.
 */
final class SessionPool implements AutoCloseable {
    /** A session lent to one request; closing it gives the session back. */
    final class Lease implements AutoCloseable {
        private final Slot slot;
        private boolean returned;

        private Lease(Slot slot) {
            this.slot = slot;
        }

        /** @return the session (used by one thread: the request's) */
        Session session() {
            return slot.session;
        }

        /**
         * Records what the session holds after this request, for the next request's choice.
         *
         * @param key see {@link CompletionRequest#affinityKeyAfter}
         */
        void holds(String key) {
            slot.key = key;
        }

        @Override
        public void close() {
            if (!returned) {
                returned = true;
                release(slot);
            }
        }
    }

    private static final class Slot {
        final Session session;
        String key = "";  // what it holds, as a request key
        boolean busy;

        Slot(Session session) {
            this.session = session;
        }
    }

    private final List<Slot> slots = new ArrayList<>();
    private final int queueCapacity;
    private final ReentrantLock lock = new ReentrantLock(true);
    private final Condition changed = lock.newCondition();
    private final ArrayDeque<Object> waiting = new ArrayDeque<>(); // tickets, FIFO
    private boolean closed;

    /**
     * Opens {@code size} sessions (failing, with the ones opened closed, if one cannot be).
     *
     * @param engine the engine
     * @param size sessions, &gt;= 1
     * @param queueCapacity requests that may wait, &gt;= 0
     * @throws SkipperException if a session cannot be opened (e.g. its KV cache does not fit)
     */
    SessionPool(Engine engine, int size, int queueCapacity) throws SkipperException {
        this.queueCapacity = queueCapacity;
        try {
            for (int i = 0; i < size; i++) {
                slots.add(new Slot(engine.newSession()));
            }
        } catch (SkipperException | RuntimeException e) {
            for (Slot s : slots) {
                s.session.close();
            }
            throw e;
        }
    }

    /**
     * Waits for a session, in arrival order.
     *
     * @param key what the request needs the session to hold ({@link CompletionRequest#affinityKey})
     * @param timeoutNanos longest wait
     * @return the lease
     * @throws ApiException 429 when the queue is full, 503 when the wait times out or the pool closes
     * @throws InterruptedException if the thread is interrupted while waiting
     */
    Lease acquire(String key, long timeoutNanos) throws ApiException, InterruptedException {
        lock.lock();
        try {
            if (closed) {
                throw unavailable("the server is shutting down");
            }
            Object ticket = new Object();
            if (waiting.isEmpty()) {
                Slot s = bestFree(key);
                if (s != null) {
                    s.busy = true;
                    return new Lease(s);
                }
            }
            if (waiting.size() >= queueCapacity) {
                throw new ApiException(429, "rate_limit_exceeded", null, "queue_full", "all " + slots.size()
                        + " sessions are busy and " + waiting.size() + " requests are waiting; retry later");
            }
            waiting.addLast(ticket);
            try {
                long left = timeoutNanos;
                while (true) {
                    if (closed) {
                        throw unavailable("the server is shutting down");
                    }
                    if (waiting.peekFirst() == ticket) {
                        Slot s = bestFree(key);
                        if (s != null) {
                            s.busy = true;
                            return new Lease(s);
                        }
                    }
                    if (left <= 0) {
                        throw unavailable("no session became free within the request's deadline");
                    }
                    left = changed.awaitNanos(left);
                }
            } finally {
                waiting.remove(ticket);
                changed.signalAll(); // the next in line may take a session now
            }
        } finally {
            lock.unlock();
        }
    }

    /** @return requests waiting for a session */
    int queued() {
        lock.lock();
        try {
            return waiting.size();
        } finally {
            lock.unlock();
        }
    }

    /** @return sessions lent out now */
    int busy() {
        lock.lock();
        try {
            return (int) slots.stream().filter(s -> s.busy).count();
        } finally {
            lock.unlock();
        }
    }

    /** @return sessions in the pool */
    int size() {
        return slots.size();
    }

    /** Cancels the running request of every lent session (shutdown). */
    void cancelAll() {
        lock.lock();
        try {
            for (Slot s : slots) {
                if (s.busy) {
                    s.session.cancel();
                }
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * Waits until no session is lent, at most {@code timeoutNanos}.
     *
     * @param timeoutNanos longest wait
     * @return whether all sessions are free
     * @throws InterruptedException if interrupted
     */
    boolean awaitIdle(long timeoutNanos) throws InterruptedException {
        lock.lock();
        try {
            long left = timeoutNanos;
            while (slots.stream().anyMatch(s -> s.busy)) {
                if (left <= 0) {
                    return false;
                }
                left = changed.awaitNanos(left);
            }
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** Refuses new requests from now on (waiting ones get a 503). */
    void refuseNew() {
        lock.lock();
        try {
            closed = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Closes every session (cancelling running requests; {@link Session#close} waits for them). */
    @Override
    public void close() {
        refuseNew();
        for (Slot s : slots) {
            s.session.close();
        }
    }

    private void release(Slot s) {
        lock.lock();
        try {
            s.busy = false;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private Slot bestFree(String key) {
        Slot best = null;
        int bestLen = -1;
        for (Slot s : slots) {
            if (!s.busy) {
                int len = commonPrefix(s.key, key);
                if (len > bestLen) {
                    best = s;
                    bestLen = len;
                }
            }
        }
        return best;
    }

    private static int commonPrefix(String a, String b) {
        int n = Math.min(a.length(), b.length());
        int i = 0;
        while (i < n && a.charAt(i) == b.charAt(i)) {
            i++;
        }
        return i;
    }

    private static ApiException unavailable(String why) {
        return new ApiException(503, "server_error", null, "unavailable", why);
    }
}
