package dev.skipper.runtime;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;

/**
 * One installed handler of a process signal ({@code TERM}, {@code INT}, {@code HUP}) that runs an
 * action on the JVM's signal thread; {@link #close()} puts the previous handler back.
 *
 * <p>Uses {@code sun.misc.Signal} (module {@code jdk.unsupported}) through reflection, so callers
 * compile without internal-API warnings and still run where the class is missing (then
 * {@link #install} returns null and the JVM's handling stays).
 */
public final class SignalHandler implements AutoCloseable {
    private final Object signal;
    private Object previous;
    private boolean restored;

    private SignalHandler(Object signal, Object previous) {
        this.signal = signal;
        this.previous = previous;
    }

    /**
     * Installs {@code action} as the handler of {@code SIG<name>}.
     *
     * @param name the signal without {@code SIG}: {@code TERM}, {@code INT}, {@code HUP}
     * @param action what the signal does
     * @return the handle, or null where the JVM cannot install it (no {@code sun.misc.Signal}, or a
     *     signal the JVM reserves)
     */
    public static SignalHandler install(String name, Runnable action) {
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
                        return "skipper SIG" + name + " handler";
                    default:
                        throw new UnsupportedOperationException(m.getName());
                }
            };
            Object handler = Proxy.newProxyInstance(SignalHandler.class.getClassLoader(), new Class<?>[] {handlerClass},
                    ih);
            Object previous = signalClass.getMethod("handle", signalClass, handlerClass).invoke(null, sig, handler);
            return new SignalHandler(sig, previous);
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            return null;
        }
    }

    /** Puts the previous handler back; idempotent. */
    @Override
    public void close() {
        if (restored) {
            return;
        }
        restored = true;
        try {
            Class<?> signalClass = signal.getClass();
            Class<?> handlerClass = Class.forName("sun.misc.SignalHandler");
            signalClass.getMethod("handle", signalClass, handlerClass).invoke(null, signal, previous);
        } catch (ReflectiveOperationException | RuntimeException e) {
            // best effort: the process is usually ending
        } finally {
            previous = null;
        }
    }
}
