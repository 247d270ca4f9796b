package dev.skipper.cli;

import dev.skipper.api.Engine;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.SkipperException;
import dev.skipper.core.config.DeploymentConfig;
import dev.skipper.core.config.ServerSettings;
import dev.skipper.server.ServerOptions;
import dev.skipper.server.SkipperServer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code serve}: the OpenAI-compatible HTTP server (docs/server.md). It runs until SIGTERM or
 * Ctrl-C; in a context without signal handlers (tests) it starts, reports and stops at once.
 */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {
            "Serves a bundle over HTTP in OpenAI's wire format: POST /v1/chat/completions, POST /v1/completions "
                    + "(stream: true for server-sent events), GET /v1/models, GET /health, GET /metrics (Prometheus).",
            "Binds 127.0.0.1 unless told otherwise; another address needs an API key (SKIPPER_API_KEY or "
                    + "--api-key-file) or --insecure. Ctrl-C or SIGTERM stops it gracefully (exit 0).",
            "Settings: flags > the --config file's server: section > defaults."},
        footer = {"", "Exit status: 0 stopped by a signal; 2 usage error or failure (one 'error: ...' line on stderr)."})
final class ServeCommand implements Callable<Integer> {
    /** Environment variable holding the API key (never a flag: command lines are visible in ps). */
    static final String KEY_ENV = "SKIPPER_API_KEY";

    private final CliContext ctx;

    @Spec
    CommandSpec spec;

    @Mixin
    EngineOptions engine = new EngineOptions();

    @Option(names = "--host", paramLabel = "ADDR", order = 10, description = "Address to bind (default 127.0.0.1).")
    String host;

    @Option(names = "--port", paramLabel = "N", order = 11, description = "TCP port (default 8080; 0: any free one).")
    Integer port;

    @Option(names = "--sessions", paramLabel = "N", order = 12,
            description = "Requests generating at once, each with its own KV cache (default 1).")
    Integer sessions;

    @Option(names = "--queue", paramLabel = "N", order = 13,
            description = "Requests that may wait for a session; one more gets a 429 (default 16).")
    Integer queue;

    @Option(names = "--request-timeout", paramLabel = "SECONDS", order = 14,
            description = "A request's deadline, waiting plus generating (default 600).")
    Double requestTimeout;

    @Option(names = "--api-key-file", paramLabel = "FILE", order = 15,
            description = "File whose first line is the API key clients must send (Authorization: Bearer KEY).")
    Path apiKeyFile;

    @Option(names = "--insecure", order = 16, description = "Allow a non-loopback address without an API key.")
    boolean insecure;

    @Option(names = "--model-id", paramLabel = "NAME", order = 17,
            description = "The model name clients use (default: the bundle folder's name).")
    String modelId;

    @Mixin
    GenerationFlags generation = new GenerationFlags();

    ServeCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
        DeploymentConfig config = Deployments.resolve(spec, engine, b -> generation.addTo(spec, b));
        ServerSettings s = config.server();
        ServerSettings settings;
        try {
            settings = new ServerSettings(host != null ? host : s.host(), port != null ? port : s.port(),
                    sessions != null ? sessions : s.sessions(), queue != null ? queue : s.queue(), s.maxBodyBytes(),
                    requestTimeout != null ? requestTimeout : s.requestTimeoutSeconds(), s.shutdownGraceSeconds(),
                    apiKeyFile != null ? apiKeyFile : s.apiKeyFile());
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage().replace("server.", "--")
                    .replace("request_timeout_s", "request-timeout").replace('_', '-'));
        }
        String key = apiKey(settings.apiKeyFile());
        GenerationOptions defaults = config.generation().toOptions();
        String id = modelId != null ? modelId : String.valueOf(config.bundle().getFileName());
        ServerOptions options;
        try {
            options = new ServerOptions(settings.host(), settings.port(), key, insecure, id, defaults,
                    settings.sessions(), settings.queue(), settings.maxBodyBytes(),
                    Duration.ofMillis(Math.round(settings.requestTimeoutSeconds() * 1000)),
                    Duration.ofMillis(Math.round(settings.shutdownGraceSeconds() * 1000)));
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        try (Engine e = ctx.opener().open(config)) {
            SkipperServer server;
            try {
                server = SkipperServer.start(e, options);
            } catch (IllegalArgumentException bind) {
                throw new SkipperException(bind.getMessage());
            }
            Runnable stop = () -> new Thread(server::close, "skipper-serve-stop").start();
            try (server; Interrupts term = Interrupts.install(ctx.handleSignals(), "TERM", stop);
                 Interrupts intr = Interrupts.install(ctx.handleSignals(), "INT", stop)) {
                ctx.err().println("serve: " + id + " on " + e.backendName() + " at " + server.uri() + " ("
                        + options.sessions() + " session(s), queue " + options.queueCapacity()
                        + (key != null ? ", API key required" : "") + "); Ctrl-C or SIGTERM stops it");
                ctx.err().flush();
                if (ctx.handleSignals()) {
                    server.awaitStop();
                } // else (tests, a CLI embedded without signal handlers): nothing could stop it; it
                  // has shown that it opens and listens, and closes now
            }
            ctx.err().println("serve: stopped");
            ctx.err().flush();
        }
        return 0;
    }

    private String apiKey(Path file) throws IOException, SkipperException {
        if (file != null) {
            String text;
            try {
                if (Files.size(file) > 4096) {
                    throw new SkipperException(file + ": an API key file holds one short line, this one has "
                            + Files.size(file) + " bytes");
                }
                text = Files.readString(file, StandardCharsets.UTF_8);
            } catch (java.nio.charset.MalformedInputException ex) {
                throw new SkipperException(file + ": the API key file is not UTF-8 text");
            }
            String line = text.lines().findFirst().orElse("").strip();
            if (line.isEmpty()) {
                throw new SkipperException(file + ": the API key file is empty");
            }
            return line;
        }
        String env = System.getenv(KEY_ENV);
        return env == null || env.isBlank() ? null : env.strip();
    }
}
