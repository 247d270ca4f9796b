package dev.skipper.cli;

import dev.skipper.api.ChatMessage;
import dev.skipper.api.ContextOverflowException;
import dev.skipper.api.Engine;
import dev.skipper.api.FinishReason;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.Session;
import dev.skipper.core.config.DeploymentConfig;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code chat}: a multi-turn REPL on stdin/stdout with the bundle's chat template. */
@Command(name = "chat", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {
            "Interactive chat with a bundle, using its chat template.",
            "Each line you type is a user turn; the reply streams back. The conversation (and its KV cache) "
                    + "carries over from turn to turn.",
            "Commands: /reset forgets the conversation, /exit (or end of input) quits, /help lists them. "
                    + "Ctrl-C stops the reply being generated; at the prompt it quits.",
            "Settings: flags > --config file > defaults (greedy, 256 tokens per reply)."},
        footer = {"", "Exit status: 0 done; 2 usage error or failure (one 'error: ...' line on stderr)."})
final class ChatCommand implements Callable<Integer> {
    static final String PROMPT = "> ";

    private final CliContext ctx;

    @Spec
    CommandSpec spec;

    @Mixin
    EngineOptions engine = new EngineOptions();

    @Option(names = "--system", paramLabel = "TEXT", order = 10,
            description = "A system turn at the start of the conversation (again after /reset).")
    String system;

    @Option(names = "--stats", order = 11, description = "Print the stats line (stderr) after each reply.")
    boolean stats;

    @Mixin
    GenerationFlags generation = new GenerationFlags();

    ChatCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
        DeploymentConfig config = Deployments.resolve(spec, engine, b -> generation.addTo(spec, b));
        GenerationOptions options = config.generation().toOptions();
        PrintWriter out = ctx.out();
        PrintWriter err = ctx.err();
        try (Engine e = ctx.opener().open(config); Session session = e.newSession();
             Interrupts interrupts = Interrupts.install(ctx.handleSignals(), () -> {
                 out.println();
                 out.flush();
                 System.exit(130); // like the default SIGINT handler
             })) {
            err.println("chat: " + config.bundle().getFileName() + " on " + e.backendName() + ", "
                    + session.contextLength() + " tokens of context. /reset clears the conversation, /exit quits"
                    + (interrupts.installed() ? ", Ctrl-C stops a reply." : "."));
            err.flush();
            boolean fresh = true;
            while (true) {
                out.print(PROMPT);
                out.flush();
                String line = ctx.in().readLine();
                if (line == null) {
                    out.println();
                    out.flush();
                    return 0;
                }
                String command = line.strip();
                if (command.isEmpty()) {
                    continue;
                }
                if (command.startsWith("/")) {
                    switch (command) {
                        case "/exit", "/quit" -> {
                            return 0;
                        }
                        case "/reset" -> {
                            session.reset();
                            fresh = true;
                            err.println("(conversation cleared)");
                        }
                        case "/help" -> err.println("/reset  forget the conversation\n/exit   quit\n"
                                + "Ctrl-C  stop the reply being generated");
                        default -> err.println("unknown command " + command + " (/reset, /exit, /help)");
                    }
                    err.flush();
                    continue;
                }
                List<ChatMessage> turns = new ArrayList<>();
                if (fresh && system != null) {
                    turns.add(ChatMessage.system(system));
                }
                turns.add(ChatMessage.user(line));
                StreamPrinter printer = new StreamPrinter(out);
                GenerationResult r;
                interrupts.arm(session::cancel);
                try {
                    r = session.chat(turns, options, printer);
                } catch (ContextOverflowException ex) {
                    printer.endLine();
                    err.println("error: " + ex.getMessage() + " (/reset starts a new conversation)");
                    err.flush();
                    continue;
                } finally {
                    interrupts.disarm();
                }
                fresh = false;
                printer.endLine();
                if (r.finishReason() == FinishReason.CANCELLED) {
                    err.println("(stopped)");
                } else if (r.finishReason() == FinishReason.CONTEXT_FULL) {
                    err.println("(the context is full: /reset starts a new conversation)");
                }
                if (stats) {
                    err.println(Reports.statsLine(r, e.backendName()));
                }
                err.flush();
            }
        }
    }
}
