package dev.skipper.runtime;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
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
 * <p>Uses {@code sun.misc.Signal} (module {@code jdk.unsupported}) through reflection: where it is
 * missing, {@link #install} installs nothing and the JVM's default handling stays.
 */
public final class StopSignals implements AutoCloseable {
    private static final String[] SIGNALS = {"TERM", "HUP", "INT"};
    private static final int[] STATUS = {143, 129, 130};

    private final List<Object[]> installed = new ArrayList<>(); // {signal, previous handler}

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

    /** @return whether at least one handler is installed (false where {@code sun.misc.Signal} is missing) */
    public boolean installed() {
        return !installed.isEmpty();
    }

    private void tryInstall(String name, Runnable action) {
        try {
            Class<?> signalClass = Class.forName("sun.misc.Signal");
            Class<?> handlerClass = Class.forName("sun.misc.SignalHandler");
            Object sig = signalClass.getConstructor(String.class).newInstance(name);
            InvocationHandler ih = (Object proxy, Method m, Object[] args) -> {
                switch (m.getName()) {
                    case "handle":
                        action.run();
                        return null;
                    case "hashCode":
                        return System.identityHashCode(proxy);
                    case "equals":
                        return proxy == args[0];
                    case "toString":
                        return "skipper SIG" + name + " stop handler";
                    default:
                        throw new UnsupportedOperationException(m.getName());
                }
            };
            Object handler = Proxy.newProxyInstance(StopSignals.class.getClassLoader(), new Class<?>[] {handlerClass}, ih);
            Object previous = signalClass.getMethod("handle", signalClass, handlerClass).invoke(null, sig, handler);
            installed.add(new Object[] {sig, previous});
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            // this signal keeps the JVM's handling (a JVM without sun.misc.Signal, or a reserved signal)
        }
    }

    /** Restores the handlers that were there before {@link #install}. */
    @Override
    public void close() {
        for (Object[] entry : installed) {
            try {
                Class<?> signalClass = entry[0].getClass();
                Class<?> handlerClass = Class.forName("sun.misc.SignalHandler");
                signalClass.getMethod("handle", signalClass, handlerClass).invoke(null, entry[0], entry[1]);
            } catch (ReflectiveOperationException | RuntimeException e) {
                // best effort: the process is ending
            }
        }
        installed.clear();
    }
}
