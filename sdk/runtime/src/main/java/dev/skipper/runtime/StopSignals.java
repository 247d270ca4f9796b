package dev.skipper.runtime;

import java.util.ArrayList;
import java.util.List;

/**
 * Stops a process on SIGTERM, SIGHUP and SIGINT without a JVM crash: runs the application's own
 * stop action (cancel the running request, let its thread finish), closes every model runner
 * ({@link OpenRunners#closeAll()}: waits for the native call in progress), then halts with the
 * shell's status for the signal (143, 129, 130).
 *
 * <p>A JVM shutdown hook cannot do this safely: ONNX Runtime's Java binding frees its native
 * environment in a hook of its own that runs concurrently with every other hook, under whatever
 * native call is in progress (docs/integrations.md, "Stopping a service"). Handling the signal
 * itself runs before any hook. Halting, not exiting, keeps a failure of the interrupted thread
 * (its runner is closed under it) from replacing the signal's status or printing an error.
 *
 * <p>Where the JVM has no {@code sun.misc.Signal} ({@link SignalHandler}), {@link #install}
 * installs nothing and the JVM's default handling stays.
 */
public final class StopSignals implements AutoCloseable {
    private static final String[] SIGNALS = {"TERM", "HUP", "INT"};
    private static final int[] STATUS = {143, 129, 130};

    private final List<SignalHandler> installed = new ArrayList<>();

    private StopSignals() {
    }

    /**
     * Installs the handlers.
     *
     * @param beforeExit the application's stop action, run first on the signal's handler thread (may be
     *     a no-op); an exception from it does not stop the shutdown
     * @return a handle whose {@link #close()} restores the previous handlers
     */
    public static StopSignals install(Runnable beforeExit) {
        StopSignals s = new StopSignals();
        for (int i = 0; i < SIGNALS.length; i++) {
            int status = STATUS[i];
            s.tryInstall(SIGNALS[i], () -> {
                try {
                    beforeExit.run();
                } catch (RuntimeException | Error e) {
                    // stopping anyway
                }
                OpenRunners.closeAll();
                Runtime.getRuntime().halt(status);
            });
        }
        return s;
    }

    private void tryInstall(String name, Runnable action) {
        SignalHandler h = SignalHandler.install(name, action);
        if (h != null) {
            installed.add(h);
        }
    }

    /** Restores the handlers that were there before {@link #install}. */
    @Override
    public void close() {
        for (SignalHandler h : installed) {
            h.close();
        }
        installed.clear();
    }
}
