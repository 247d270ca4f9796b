package dev.skipper.cli;

import dev.skipper.api.Engine;
import dev.skipper.api.ScoreResult;
import dev.skipper.api.Session;
import dev.skipper.api.SkipperException;
import dev.skipper.core.config.DeploymentConfig;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code score}: teacher-forced log-likelihood and perplexity of a text. */
@Command(name = "score", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {
            "Score a text under a bundle: per-token log-probability of each next token and the perplexity "
                    + "exp(-mean log-probability).",
            "Prints the token count and the perplexity; --json prints every position. The text must fit "
                    + "the context."},
        footer = {"", "Exit status: 0 done; 2 usage error or failure (one 'error: ...' line on stderr).",
            "JSON schema: docs/cli.md."})
final class ScoreCommand implements Callable<Integer> {
    private final CliContext ctx;

    @Spec
    CommandSpec spec;

    @Mixin
    EngineOptions engine = new EngineOptions();

    @Option(names = "--text-file", paramLabel = "FILE", required = true, order = 10,
            description = "The text to score (UTF-8), scored exactly as written (no chat template).")
    Path textFile;

    @Option(names = "--json", order = 40,
            description = "Print one JSON object: tokens, argmax, logprobs, perplexity.")
    boolean json;

    ScoreCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
        DeploymentConfig config = Deployments.resolve(spec, engine, b -> { });
        String text = readText(textFile);
        try (Engine e = ctx.opener().open(config); Session session = e.newSession()) {
            ScoreResult r = session.score(text);
            if (json) {
                ctx.out().println(Json.compact(Reports.score(r)));
            } else {
                ctx.out().println("tokens: " + r.tokens().length);
                ctx.out().println(String.format(Locale.ROOT, "perplexity: %.4f", r.perplexity()));
            }
            ctx.out().flush();
        }
        return 0;
    }

    /**
     * Reads a UTF-8 text file.
     *
     * @param file the file
     * @return its text
     * @throws SkipperException if it is not valid UTF-8
     * @throws IOException if it cannot be read
     */
    static String readText(Path file) throws SkipperException, IOException {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (CharacterCodingException e) {
            throw new SkipperException(file + ": not valid UTF-8", e);
        }
    }
}
