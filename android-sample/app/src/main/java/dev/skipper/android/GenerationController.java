package dev.skipper.android;

import android.os.Handler;
import android.os.Looper;
import dev.skipper.api.ChatMessage;
import dev.skipper.api.Engine;
import dev.skipper.api.FinishReason;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.Session;
import dev.skipper.api.SkipperException;
import dev.skipper.core.config.DeploymentConfig;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * Runs the model off the main thread: one background worker owns the engine and the session
 * (opened on first use: loading a model takes seconds), generates one reply at a time, and hands
 * the streamed text, the end and errors to a {@link Listener} on the main thread. {@link #cancel}
 * works from any thread and stops the reply at its next token. Owned by the {@link SkipperApp}, so
 * an Activity that is recreated (rotation) finds the conversation and a running reply intact; what
 * arrives while no listener is set (the screen in the background) is kept and handed to the next
 * one. {@link #send}, {@link #setListener} and {@link #close} are for the main thread.
 */
public final class GenerationController implements AutoCloseable {

    /** What the UI hears; every call arrives on the main thread. */
    public interface Listener {
        /** @param piece the text generated since the previous call */
        void onText(String piece);

        /**
         * @param result the whole reply (finish reason {@code CANCELLED} after {@link #cancel})
         */
        void onDone(GenerationResult result);

        /** @param message what went wrong, one line */
        void onError(String message);
    }

    /** Opens an engine for a deployment ({@code Skipper::open} in the app; a stand-in in tests). */
    public interface EngineOpener {
        /**
         * @param config the deployment
         * @return the engine
         * @throws SkipperException when it cannot be opened
         */
        Engine open(DeploymentConfig config) throws SkipperException;
    }

    private final DeploymentConfig config;
    private final EngineOpener opener;
    private final Handler main = new Handler(Looper.getMainLooper());
    private final ExecutorService worker = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "skipper-generation");
        t.setDaemon(true);
        return t;
    });
    private final Object lock = new Object();
    private Engine engine;          // worker thread only
    private Session session;        // set by the worker; read under lock by cancel()
    private boolean running;        // guarded by lock
    // a cancel since send(): also seen by the token listener, so a cancel that lands between the
    // session's start of request (which clears its own flag) and the first token still stops it
    private volatile boolean cancelRequested;
    private boolean closed;         // guarded by lock
    // main thread only: the reply so far, how much of it the listener has had, and an end it has not
    private Listener listener;
    private final StringBuilder reply = new StringBuilder();
    private int delivered;
    private GenerationResult pendingDone;
    private String pendingError;

    /**
     * @param config the deployment (its generation settings apply to every reply)
     * @param opener how the engine is opened
     */
    public GenerationController(DeploymentConfig config, EngineOpener opener) {
        this.config = config;
        this.opener = opener;
    }

    /**
     * Replaces the listener (an Activity sets itself in onStart and clears it in onStop). A new
     * listener first gets, in one {@link Listener#onText} call, the text of the current reply it
     * has not seen, then the reply's end if that came meanwhile.
     *
     * @param l the listener, or {@code null}
     */
    public void setListener(Listener l) {
        this.listener = l;
        flush();
    }

    /** @return whether a reply is being generated */
    public boolean isRunning() {
        synchronized (lock) {
            return running;
        }
    }

    /**
     * Starts the reply to one more user turn of the conversation.
     *
     * @param userText the user's message
     * @return {@code false} when a reply is still running or the controller is closed (nothing starts)
     */
    public boolean send(String userText) {
        synchronized (lock) {
            if (running || closed) {
                return false;
            }
            running = true;
            cancelRequested = false;
        }
        reply.setLength(0);
        delivered = 0;
        pendingDone = null;
        pendingError = null;
        GenerationOptions options = config.generation().toOptions();
        worker.execute(() -> {
            try {
                Session s = session();
                synchronized (lock) {
                    if (cancelRequested) {
                        throw new SkipperException("cancelled before the reply started");
                    }
                }
                GenerationResult r = s.chat(List.of(ChatMessage.user(userText)), options,
                        (text, tokenId) -> {
                            if (cancelRequested) {
                                s.cancel();
                            }
                            if (!text.isEmpty()) {
                                main.post(() -> {
                                    reply.append(text);
                                    flush();
                                });
                            }
                        });
                finish();
                main.post(() -> {
                    pendingDone = r;
                    flush();
                });
            } catch (Throwable e) { // an OutOfMemoryError loading a model too: the UI must not stay busy
                String msg = e instanceof SkipperException || e instanceof RuntimeException
                        ? SkipperException.oneLine(String.valueOf(e.getMessage()))
                        : e.getClass().getSimpleName() + ": " + SkipperException.oneLine(String.valueOf(e.getMessage()));
                finish();
                main.post(() -> {
                    pendingError = msg;
                    flush();
                });
                if (e instanceof Error err && !(e instanceof OutOfMemoryError)) {
                    throw err;
                }
            }
        });
        return true;
    }

    /** Stops the running reply at its next token (no effect when none runs). Any thread. */
    public void cancel() {
        synchronized (lock) {
            if (running) {
                cancelRequested = true;
                if (session != null) {
                    session.cancel();
                }
            }
        }
    }

    /** Forgets the conversation (waits for nothing: runs after a running reply). */
    public void reset() {
        worker.execute(() -> {
            if (session != null) {
                session.reset();
            }
        });
    }

    private Session session() throws SkipperException {
        if (session == null) {
            engine = opener.open(config);
            Session s = engine.newSession();
            synchronized (lock) {
                session = s;
            }
        }
        return session;
    }

    private void finish() {
        synchronized (lock) {
            running = false;
        }
    }

    /** Hands the listener what it has not had yet (main thread). */
    private void flush() {
        Listener l = listener;
        if (l == null) {
            return;
        }
        if (delivered < reply.length()) {
            String piece = reply.substring(delivered);
            delivered = reply.length();
            l.onText(piece);
        }
        if (pendingDone != null) {
            GenerationResult r = pendingDone;
            pendingDone = null;
            l.onDone(r);
        }
        if (pendingError != null) {
            String e = pendingError;
            pendingError = null;
            l.onError(e);
        }
    }

    /** Cancels a running reply, then closes the session and the engine on the worker. */
    @Override
    public void close() {
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            if (running) {
                cancelRequested = true; // also stops a reply whose session is still opening
                if (session != null) {
                    session.cancel();
                }
            }
        }
        worker.execute(() -> {
            if (session != null) {
                session.close();
            }
            if (engine != null) {
                engine.close();
            }
        });
        worker.shutdown();
        try {
            worker.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * @param r a result
     * @return whether it ended because of {@link #cancel}
     */
    public static boolean cancelled(GenerationResult r) {
        return r.finishReason() == FinishReason.CANCELLED;
    }
}
