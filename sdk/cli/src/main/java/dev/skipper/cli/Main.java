package dev.skipper.cli;

import dev.skipper.api.SkipperException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.util.concurrent.Callable;
import dev.skipper.runtime.StopSignals;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.UnmatchedArgumentException;

/**
 * The {@code skipper} command line: {@code run}, {@code chat}, {@code score}, {@code bench},
 * {@code build-engines}, {@code gpu-check} (docs/cli.md, docs/gpu.md). The launcher {@code ./skipper} builds this module and calls {@link #main}.
 *
 * <p>Exit status: 0 success, 2 usage error or a reported failure ({@code error: message}, one line on
 * stderr), 1 an unexpected internal error (with its stack trace), 130 Ctrl-C at the chat prompt.
 */
public final class Main {
    /** Exit status of usage errors and of failures reported as {@code error: message}. */
    static final int EXIT_ERROR = 2;
    /** Exit status of unexpected exceptions (bugs). */
    static final int EXIT_INTERNAL = 1;
    private static final String LOG_FORMAT = "java.util.logging.SimpleFormatter.format";

    private Main() {}

    /**
     * Runs the CLI on the process's streams (UTF-8) and exits with its status.
     *
     * @param args command-line arguments, starting with the verb
     */
    public static void main(String[] args) {
        // Warnings from the SDK (System.Logger -> java.util.logging) as one line each,
        // "warning: ...", instead of JUL's two-line default with a timestamp and class name.
        if (System.getProperty(LOG_FORMAT) == null) {
            System.setProperty(LOG_FORMAT, "%4$s: %5$s%6$s%n");
        }
        PrintWriter out = new PrintWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), false);
        PrintWriter err = new PrintWriter(new OutputStreamWriter(System.err, StandardCharsets.UTF_8), true);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        int status;
        // SIGTERM (a service manager's stop), SIGHUP and Ctrl-C end the process without a JVM crash:
        // what was printed is flushed, every model runner closed (waiting for the native call in
        // progress), then the process halts with 143, 129 or 130. chat and serve install their own
        // INT/TERM handlers (cancel a reply, graceful stop) while they run, and restore these after.
        try (StopSignals stop = StopSignals.install(() -> {
            out.flush();
            err.flush();
        })) {
            status = execute(args, new CliContext(out, err, in, EngineOpener.SKIPPER, true));
        }
        out.flush();
        err.flush();
        System.exit(status);
    }

    /**
     * Parses and runs one command line.
     *
     * @param args the arguments, starting with the verb
     * @param ctx streams and engine opener
     * @return the exit status
     */
    static int execute(String[] args, CliContext ctx) {
        int status = commandLine(ctx).execute(args);
        ctx.out().flush();
        ctx.err().flush();
        return status;
    }

    /**
     * The configured picocli command tree.
     *
     * @param ctx streams and engine opener
     * @return the root command line
     */
    static CommandLine commandLine(CliContext ctx) {
        CommandLine cl = new CommandLine(new Root());
        // The launcher passes -Dskipper.cli.name=./skipper so that messages show what users type.
        cl.setCommandName(System.getProperty("skipper.cli.name", "skipper"));
        cl.addSubcommand(new RunCommand(ctx));
        cl.addSubcommand(new ChatCommand(ctx));
        cl.addSubcommand(new ScoreCommand(ctx));
        cl.addSubcommand(new BenchCommand(ctx));
        cl.addSubcommand(new ServeCommand(ctx));
        cl.addSubcommand(new BuildEnginesCommand(ctx));
        cl.addSubcommand(new GpuCheckCommand(ctx));
        cl.setOut(ctx.out());
        cl.setErr(ctx.err());
        cl.setParameterExceptionHandler(Main::usageError);
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> failure(ex, commandLine.getErr()));
        return cl;
    }

    private static int usageError(ParameterException ex, String[] args) {
        CommandLine cl = ex.getCommandLine();
        PrintWriter err = cl.getErr();
        err.println("error: " + oneLine(ex.getMessage()));
        UnmatchedArgumentException.printSuggestions(ex, err);
        err.print(cl.getHelp().synopsis(0));
        err.println("Try '" + cl.getCommandSpec().qualifiedName() + " --help' for more information.");
        err.flush();
        return EXIT_ERROR;
    }

    /** Reports an exception thrown by a command; returns the exit status. */
    static int failure(Exception ex, PrintWriter err) {
        Throwable t = ex instanceof UncheckedIOException u ? u.getCause() : ex;
        if (t instanceof SkipperException) {
            err.println("error: " + oneLine(t.getMessage()));
        } else if (t instanceof NoSuchFileException e) {
            err.println("error: " + oneLine("no such file: " + e.getFile()));
        } else if (t instanceof AccessDeniedException e) {
            err.println("error: " + oneLine("permission denied: " + e.getFile()));
        } else if (t instanceof IOException) {
            err.println("error: " + oneLine(String.valueOf(t.getMessage())));
        } else {
            err.println("error: internal error: " + oneLine(String.valueOf(t)));
            t.printStackTrace(err);
            err.flush();
            return EXIT_INTERNAL;
        }
        err.flush();
        return EXIT_ERROR;
    }

    /** Longest message shown: a 1 MB value quoted in a message must not become a 1 MB error line. */
    private static final int MAX_MESSAGE_CHARS = 480;

    private static String oneLine(String s) {
        String line = SkipperException.oneLine(s);
        if (line.length() <= MAX_MESSAGE_CHARS) {
            return line;
        }
        int cut = MAX_MESSAGE_CHARS - 40;
        if (Character.isHighSurrogate(line.charAt(cut - 1))) {
            cut--;
        }
        return line.substring(0, cut) + "... (" + (line.length() - cut) + " more characters)";
    }

    /** The root command: without a verb it prints the usage and fails. */
    @Command(name = "skipper", mixinStandardHelpOptions = true, versionProvider = Version.class,
            usageHelpAutoWidth = true,
            description = "Skipper: on-device LLM inference. Generate, chat, score and benchmark with an exported bundle; "
                    + "build and check TensorRT engines on a GPU.",
            footer = {"", "'skipper <command> --help' shows a command's flags. Documentation: docs/cli.md."})
    static final class Root implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Override
        public Integer call() {
            PrintWriter err = spec.commandLine().getErr();
            err.println("error: missing command (run, chat, score, bench, build-engines, gpu-check)");
            spec.commandLine().usage(err);
            return EXIT_ERROR;
        }
    }

    /** {@code --version}: the jar's Implementation-Version. */
    static final class Version implements IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"skipper " + (v == null ? "(development build)" : v)};
        }
    }
}
