package dev.skipper.runtime;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.WeakHashMap;

/**
 * The runners still open in this process, so that a process that is told to stop (SIGTERM from a
 * service manager, Ctrl-C) can close them before it exits.
 *
 * <p>Why: exiting while the decoding thread is inside a native call crashes the JVM. ONNX Runtime's
 * Java binding releases its environment in its own JVM shutdown hook, which runs concurrently with
 * every other hook, under the call in progress: SIGSEGV and a crash report (measured: 3 of 3
 * SIGTERMs during {@code ./skipper run}). {@link #closeAll()} takes each runner's write lock, so it
 * waits for the native call in progress (one layer, a few ms), refuses later calls in Java, and
 * frees the runner as {@link AbstractModelRunner#close()} does; after it, exiting is safe. An
 * application that handles its own signals calls it before {@code System.exit} (the CLI does:
 * {@code dev.skipper.cli.Main}); the JVM shutdown hook installed here calls it too, as a best effort
 * for applications that do not (it cannot run before the binding's hook, only alongside it).
 *
 * <p>Runners leave the set when closed, and it holds them weakly, so a runner the application
 * dropped is not kept alive by it.
 */
public final class OpenRunners {
    /** How long the hook waits for one runner's native call in progress before giving up on it. */
    static final long WAIT_MILLIS = 10_000;

    private static final Set<AbstractModelRunner<?, ?>> OPEN = Collections.newSetFromMap(new WeakHashMap<>());
    private static boolean hookInstalled;

    private OpenRunners() {
    }

    static synchronized void add(AbstractModelRunner<?, ?> runner) {
        if (!hookInstalled) {
            try {
                Runtime.getRuntime().addShutdownHook(new Thread(OpenRunners::closeAll, "skipper-close-runners"));
                hookInstalled = true;
            } catch (IllegalStateException e) {
                return; // the JVM is already shutting down
            }
        }
        OPEN.add(runner);
    }

    static synchronized void remove(AbstractModelRunner<?, ?> runner) {
        OPEN.remove(runner);
    }

    /**
     * Closes every open runner, each waiting at most {@link #WAIT_MILLIS} for its native call in
     * progress (a runner whose call does not end in time stays open). Safe from any thread; later
     * calls on the closed runners fail with {@link IllegalStateException} without entering native
     * code.
     */
    public static void closeAll() {
        List<AbstractModelRunner<?, ?>> runners;
        synchronized (OpenRunners.class) {
            runners = new ArrayList<>(OPEN);
        }
        for (AbstractModelRunner<?, ?> r : runners) {
            try {
                r.closeWithin(WAIT_MILLIS);
            } catch (RuntimeException | Error e) {
                // the process is exiting: one runner that cannot close must not keep the others open
            }
        }
    }
}
