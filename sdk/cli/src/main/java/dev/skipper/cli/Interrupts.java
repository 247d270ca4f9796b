package dev.skipper.cli;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;

/**
 * Ctrl-C (SIGINT) handling for the chat REPL: while a reply is being generated, Ctrl-C runs the
 * armed action (cancelling the generation); otherwise it runs the idle action (leaving the REPL).
 *
 * <p>Uses {@code sun.misc.Signal} (module {@code jdk.unsupported}) through reflection, so the CLI
 * compiles without internal-API warnings and still runs where the class is missing: then nothing is
 * installed and Ctrl-C ends the process as usual.
 */
final class Interrupts implements AutoCloseable {
    private final Runnable whenIdle;
    private final String signalName;
    private volatile Runnable armed;
    private Object signal;
    private Object previousHandler;

    private Interrupts(String signalName, Runnable whenIdle) {
        this.signalName = signalName;
        this.whenIdle = whenIdle;
    }

    /**
     * Installs the handler, or nothing where {@code sun.misc.Signal} is unavailable or {@code enabled}
     * is false.
     *
     * @param enabled whether to install it at all
     * @param whenIdle what Ctrl-C does when nothing is armed
     * @return the handle; close it to restore the previous handler
     */
    static Interrupts install(boolean enabled, Runnable whenIdle) {
        return install(enabled, "INT", whenIdle);
    }

    /**
     * Installs a handler of another signal ({@code TERM} for servers), or nothing where
     * {@code sun.misc.Signal} is unavailable or {@code enabled} is false.
     *
     * @param enabled whether to install it at all
     * @param signalName the signal, without {@code SIG}
     * @param whenIdle what the signal does when nothing is armed
     * @return the handle; close it to restore the previous handler
     */
    static Interrupts install(boolean enabled, String signalName, Runnable whenIdle) {
        Interrupts in = new Interrupts(signalName, whenIdle);
        if (enabled) {
            in.tryInstall();
        }
        return in;
    }

    /** @return whether a handler was installed (Ctrl-C cancels instead of ending the process) */
    boolean installed() {
        return signal != null;
    }

    /** @param action what the next Ctrl-C does, until {@link #disarm()} */
    void arm(Runnable action) {
        armed = action;
    }

    /** Ctrl-C goes back to the idle action. */
    void disarm() {
        armed = null;
    }

    private void fire() {
        Runnable a = armed;
        if (a != null) {
            a.run();
        } else {
            whenIdle.run();
        }
    }

    private void tryInstall() {
        try {
            Class<?> signalClass = Class.forName("sun.misc.Signal");
            Class<?> handlerClass = Class.forName("sun.misc.SignalHandler");
            Object sig = signalClass.getConstructor(String.class).newInstance(signalName);
            InvocationHandler ih = (Object proxy, Method m, Object[] args) -> {
                switch (m.getName()) {
                    case "handle" -> {
                        fire();
                        return null;
                    }
                    case "hashCode" -> {
                        return System.identityHashCode(proxy);
                    }
                    case "equals" -> {
                        return proxy == args[0];
                    }
                    case "toString" -> {
                        return "skipper SIG" + signalName + " handler";
                    }
                    default -> throw new UnsupportedOperationException(m.getName());
                }
            };
            Object handler = Proxy.newProxyInstance(Interrupts.class.getClassLoader(), new Class<?>[] {handlerClass}, ih);
            previousHandler = signalClass.getMethod("handle", signalClass, handlerClass).invoke(null, sig, handler);
            signal = sig;
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            signal = null; // no handler: Ctrl-C ends the process
        }
    }

    @Override
    public void close() {
        if (signal == null) {
            return;
        }
        try {
            Class<?> signalClass = signal.getClass();
            Class<?> handlerClass = Class.forName("sun.misc.SignalHandler");
            signalClass.getMethod("handle", signalClass, handlerClass).invoke(null, signal, previousHandler);
        } catch (ReflectiveOperationException | RuntimeException e) {
            // best effort: the process is about to leave the REPL anyway
        } finally {
            signal = null;
        }
    }
}
