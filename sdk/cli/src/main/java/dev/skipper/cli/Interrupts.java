package dev.skipper.cli;

import dev.skipper.runtime.SignalHandler;

/**
 * Ctrl-C (SIGINT) handling for the chat REPL: while a reply is being generated, Ctrl-C runs the
 * armed action (cancelling the generation); otherwise it runs the idle action (leaving the REPL).
 *
 * <p>Where the JVM has no {@code sun.misc.Signal} ({@link SignalHandler}), nothing is installed and
 * Ctrl-C ends the process as usual.
 */
final class Interrupts implements AutoCloseable {
    private final Runnable whenIdle;
    private final String signalName;
    private volatile Runnable armed;
    private SignalHandler signal; // null when nothing is installed

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
        signal = SignalHandler.install(signalName, this::fire); // null: the signal keeps the JVM's handling
    }

    @Override
    public void close() {
        if (signal != null) {
            signal.close();
            signal = null;
        }
    }
}
