package dev.skipper.cli;

import dev.skipper.api.AdaptiveDepth;
import dev.skipper.api.AdaptiveDepthScore;
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
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
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

    @Option(names = "--adaptive-depth", paramLabel = "PRECISION", order = 20,
            description = "Also score LOSSY adaptive depth at this router precision (0.5-1): agreement with the "
                    + "full model's argmax and both perplexities over the tokens after --prefix.")
    Double adaptiveDepth;

    @Option(names = "--prefix", paramLabel = "N", order = 21, defaultValue = "32",
            description = "With --adaptive-depth: tokens prefilled at full depth first (default: ${DEFAULT-VALUE}).")
    int prefix;

    ScoreCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
        DeploymentConfig config = Deployments.resolve(spec, engine, b -> { });
        String text = readText(textFile);
        try (Engine e = ctx.opener().open(config); Session session = e.newSession()) {
            ScoreResult r = session.score(text);
            AdaptiveDepthScore lossy = null;
            if (adaptiveDepth != null) {
                if (!(adaptiveDepth >= 0.5 && adaptiveDepth <= 1)) {
                    throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                            "--adaptive-depth must be a precision in [0.5, 1], got " + adaptiveDepth);
                }
                if (prefix < 1) {
                    throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--prefix must be >= 1, got "
                            + prefix);
                }
                lossy = session.scoreAdaptiveDepth(text, AdaptiveDepth.lossy(adaptiveDepth), prefix);
            }
            if (json) {
                Map<String, Object> doc = Reports.score(r, e.model());
                if (lossy != null) {
                    Map<String, Object> d = new LinkedHashMap<>();
                    d.put("lossy", true);
                    d.put("precision", adaptiveDepth);
                    d.put("prefix", lossy.prefix());
                    d.put("agreement", lossy.agreement());
                    d.put("perplexity", lossy.perplexity());
                    d.put("full_perplexity", lossy.fullPerplexity());
                    d.put("exit_rate", lossy.stats().exitRate());
                    d.put("layers_per_token", lossy.stats().layersPerToken());
                    doc.put("adaptive_depth", d);
                }
                ctx.out().println(Json.compact(doc));
            } else {
                ctx.out().println("tokens: " + r.tokens().length);
                ctx.out().println(String.format(Locale.ROOT, "perplexity: %.4f", r.perplexity()));
                if (lossy != null) {
                    ctx.out().println(String.format(Locale.ROOT, "adaptive depth (LOSSY, precision %.3f): agreement "
                            + "%.4f, perplexity %.4f vs %.4f full (tokens after %d), %.2f of steps exited, "
                            + "%.1f layers/token", adaptiveDepth, lossy.agreement(), lossy.perplexity(),
                            lossy.fullPerplexity(), lossy.prefix(), lossy.stats().exitRate(),
                            lossy.stats().layersPerToken()));
                }
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
