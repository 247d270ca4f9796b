package dev.skipper.cli;

import java.io.BufferedReader;
import java.io.PrintWriter;
import java.util.Objects;

/**
 * What the commands write to, read from and open engines with: the process's streams and the real
 * engine in {@link Main#main}, in-memory streams and fakes in tests.
 *
 * @param out standard output (results, streamed text, JSON)
 * @param err standard error (stats, progress, errors)
 * @param in standard input (the chat REPL, {@code --prompt -})
 * @param opener opens the engine of a resolved deployment
 * @param handleSignals install a Ctrl-C handler in the chat REPL (off in tests)
 */
record CliContext(PrintWriter out, PrintWriter err, BufferedReader in, EngineOpener opener, boolean handleSignals) {
    /** Checks for nulls. */
    CliContext {
        Objects.requireNonNull(out, "out");
        Objects.requireNonNull(err, "err");
        Objects.requireNonNull(in, "in");
        Objects.requireNonNull(opener, "opener");
    }
}
