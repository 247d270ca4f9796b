package dev.skipper.cli;

import java.io.BufferedReader;
import java.io.PrintWriter;
import java.io.StringReader;
import java.io.StringWriter;

/** Runs the CLI in memory. */
final class Cli {
    private Cli() {}

    /** What a run printed and returned. */
    record Result(int status, String out, String err) {
        @Override
        public String toString() {
            return "exit " + status + "\n--- stdout\n" + out + "\n--- stderr\n" + err;
        }
    }

    static Result withInput(EngineOpener opener, String stdin, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CliContext ctx = new CliContext(new PrintWriter(out), new PrintWriter(err),
                new BufferedReader(new StringReader(stdin)), opener, false);
        int status = Main.execute(args, ctx);
        return new Result(status, out.toString(), err.toString());
    }

    static Result run(EngineOpener opener, String... args) {
        return withInput(opener, "", args);
    }
}
