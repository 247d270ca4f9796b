package dev.skipper.cli;

import dev.skipper.api.ChatMessage;
import dev.skipper.api.Engine;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.Session;
import dev.skipper.api.SkipperException;
import dev.skipper.core.config.DeploymentConfig;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code run}: one prompt, streamed to stdout (or one JSON object), stats on stderr. */
@Command(name = "run", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {
            "Generate text from a prompt with a bundle.",
            "The text streams to stdout as it is generated; a one-line summary (token counts, time to first "
                    + "token, prefill and decode speed, why generation ended, backend) goes to stderr.",
            "Settings: flags > --config file > defaults (greedy, 256 tokens). Give --config, --bundle or both."},
        footer = {"", "Exit status: 0 done; 2 usage error or failure (one 'error: ...' line on stderr).",
            "JSON schema: docs/cli.md."})
final class RunCommand implements Callable<Integer> {
    private final CliContext ctx;

    @Spec
    CommandSpec spec;

    @Mixin
    EngineOptions engine = new EngineOptions();

    @Option(names = "--prompt", paramLabel = "TEXT", required = true, order = 10,
            description = "The prompt; '-' reads it from stdin.")
    String prompt;

    @Option(names = "--chat", order = 11,
            description = "Send the prompt as one user turn through the bundle's chat template.")
    boolean chat;

    @Option(names = "--system", paramLabel = "TEXT", order = 12,
            description = "With --chat: a system turn before the prompt.")
    String system;

    @Mixin
    GenerationFlags generation = new GenerationFlags();

    @Option(names = "--json-schema", paramLabel = "FILE", order = 30,
            description = "Constrain the output to JSON that matches this JSON schema (supported keywords: "
                    + "docs/server.md#structured-output; an unsupported one is refused naming it).")
    java.nio.file.Path jsonSchema;

    @Option(names = "--json-object", order = 31,
            description = "Constrain the output to a JSON object (any keys and values, nested up to 32 levels).")
    boolean jsonObject;

    @Option(names = "--json", order = 40,
            description = "Print nothing while generating; then one JSON object: text, prompt_tokens, tokens, "
                    + "finish_reason, stats.")
    boolean json;

    RunCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
        if (system != null && !chat) {
            throw new ParameterException(spec.commandLine(), "--system needs --chat");
        }
        if (jsonSchema != null && jsonObject) {
            throw new ParameterException(spec.commandLine(), "--json-schema and --json-object exclude each other");
        }
        String schema = jsonSchema == null ? null : readSchema(jsonSchema);
        DeploymentConfig config = Deployments.resolve(spec, engine, b -> generation.addTo(spec, b));
        GenerationOptions base = config.generation().toOptions();
        GenerationOptions options = schema != null ? base.withJsonSchema(schema)
                : jsonObject ? base.withFormat(dev.skipper.api.ResponseFormat.jsonObject()) : base;
        String text = prompt.equals("-") ? readStdin() : prompt;
        if (text.isBlank()) {
            // A fresh session has nothing to continue; a blank chat turn asks nothing. Refused
            // before the bundle is opened.
            throw new SkipperException((prompt.equals("-") ? "the prompt read from stdin" : "--prompt")
                    + " is empty or only whitespace: give the text to generate from");
        }
        try (Engine e = ctx.opener().open(config); Session session = e.newSession()) {
            StreamPrinter printer = json ? null : new StreamPrinter(ctx.out());
            GenerationResult r;
            if (chat) {
                List<ChatMessage> turns = new ArrayList<>();
                if (system != null) {
                    turns.add(ChatMessage.system(system));
                }
                turns.add(ChatMessage.user(text));
                r = withSchemaFile(() -> session.chat(turns, options, printer));
            } else {
                r = withSchemaFile(() -> session.generate(text, options, printer));
            }
            if (printer != null) {
                printer.endLine();
            } else {
                ctx.out().println(Json.compact(Reports.run(r, e.model())));
                ctx.out().flush();
            }
            ctx.err().println(Reports.statsLine(r, e.backendName()));
            ctx.err().flush();
        }
        return 0;
    }

    /** A generation whose schema errors name the file. */
    private GenerationResult withSchemaFile(Generation g) throws SkipperException {
        try {
            return g.run();
        } catch (dev.skipper.api.InvalidSchemaException e) {
            throw jsonSchema == null ? e : new dev.skipper.api.InvalidSchemaException(jsonSchema + ": " + e.getMessage());
        }
    }

    private interface Generation {
        GenerationResult run() throws SkipperException;
    }

    /** The schema file's text: at most {@link dev.skipper.core.constrained.Grammars#MAX_SCHEMA_CHARS}, UTF-8. */
    private static String readSchema(java.nio.file.Path file) throws SkipperException {
        try {
            long size = java.nio.file.Files.size(file);
            long most = 4L * dev.skipper.core.constrained.Grammars.MAX_SCHEMA_CHARS; // UTF-8: at most 4 bytes a character
            if (size > most) {
                throw new SkipperException("--json-schema " + file + ": " + size + " bytes, more than " + most);
            }
            byte[] bytes = java.nio.file.Files.readAllBytes(file);
            try {
                return java.nio.charset.StandardCharsets.UTF_8.newDecoder()
                        .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
                        .decode(java.nio.ByteBuffer.wrap(bytes)).toString();
            } catch (java.nio.charset.CharacterCodingException e) {
                throw new SkipperException("--json-schema " + file + ": not valid UTF-8");
            }
        } catch (java.nio.file.NoSuchFileException e) {
            throw new SkipperException("--json-schema " + file + ": no such file");
        } catch (IOException e) {
            throw new SkipperException("--json-schema " + file + ": cannot be read (" + e.getMessage() + ")");
        }
    }

    private String readStdin() throws IOException {
        StringBuilder sb = new StringBuilder();
        char[] buf = new char[8192];
        int n;
        while ((n = ctx.in().read(buf)) >= 0) {
            sb.append(buf, 0, n);
        }
        String s = sb.toString();
        // A trailing newline from `echo ... |` is not part of the prompt.
        return s.endsWith("\r\n") ? s.substring(0, s.length() - 2) : s.endsWith("\n") ? s.substring(0, s.length() - 1) : s;
    }
}
