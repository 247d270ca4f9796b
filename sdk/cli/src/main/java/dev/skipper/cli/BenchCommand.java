package dev.skipper.cli;

import dev.skipper.api.ChatMessage;
import dev.skipper.api.Engine;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.GenerationStats;
import dev.skipper.api.SamplingOptions;
import dev.skipper.api.Session;
import dev.skipper.api.SkipperException;
import dev.skipper.core.config.DeploymentConfig;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.ToDoubleFunction;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code bench}: decoding speed per prompt and mode; only plain autoregressive decoding for now. */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {
            "Benchmark decoding modes on a set of prompts: each prompt is generated greedily in a fresh "
                    + "conversation, up to --max-tokens tokens or end of sequence.",
            "Prints one line per prompt and the means to stdout; --json writes every figure to a file.",
            "Modes: ar (plain autoregressive decoding). The speculative modes arrive with speculative "
                    + "decoding (docs/roadmap.md)."},
        footer = {"", "Exit status: 0 done; 2 usage error or failure (one 'error: ...' line on stderr).",
            "JSON schema: docs/cli.md."})
final class BenchCommand implements Callable<Integer> {
    /** Modes this build runs. */
    static final List<String> MODES = List.of("ar");
    /** Modes that speculative decoding brings. */
    static final List<String> LATER_MODES = List.of("spec", "auto", "early-exit", "layer-skip", "ngram");

    private final CliContext ctx;

    @Spec
    CommandSpec spec;

    @Mixin
    EngineOptions engine = new EngineOptions();

    @Option(names = "--prompts", paramLabel = "FILE", required = true, order = 10,
            description = "Prompts, one per line (UTF-8; blank lines are skipped).")
    Path prompts;

    @Option(names = "--max-tokens", paramLabel = "N", order = 11,
            description = "Most tokens to generate per prompt (default: the file's generation.max_new_tokens, "
                    + "else 256).")
    Integer maxTokens;

    @Option(names = "--modes", paramLabel = "LIST", split = ",", order = 12, defaultValue = "ar",
            description = "Comma-separated decoding modes (default: ${DEFAULT-VALUE}). Available: ar.")
    List<String> modes;

    @Option(names = "--chat", order = 13, description = "Send each prompt as a user turn through the chat template.")
    boolean chat;

    @Option(names = "--warmup", paramLabel = "N", order = 14, defaultValue = "1",
            description = "Untimed runs of the first prompt before measuring (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--json", paramLabel = "OUT", order = 40, description = "Write the measurements as JSON to OUT.")
    Path jsonOut;

    BenchCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
        for (String m : modes) {
            if (LATER_MODES.contains(m)) {
                throw new ParameterException(spec.commandLine(), "--modes: mode '" + m
                        + "' needs speculative decoding, which is not built yet (docs/roadmap.md); available: "
                        + String.join(", ", MODES));
            }
            if (!MODES.contains(m)) {
                throw new ParameterException(spec.commandLine(), "--modes: unknown mode '" + m + "'; available: "
                        + String.join(", ", MODES));
            }
        }
        if (warmup < 0) {
            throw new ParameterException(spec.commandLine(), "--warmup must be >= 0, got " + warmup);
        }
        DeploymentConfig config = Deployments.resolve(spec, engine, b -> b.maxNewTokens(maxTokens));
        List<String> texts = new ArrayList<>();
        for (String line : ScoreCommand.readText(prompts).split("\r?\n")) {
            if (!line.isBlank()) {
                texts.add(line);
            }
        }
        if (texts.isEmpty()) {
            throw new SkipperException(prompts + ": no prompts (one per line)");
        }
        // Greedy, no stop strings: every mode must produce the same tokens, so only speed differs.
        GenerationOptions options = new GenerationOptions(config.generation().maxNewTokens(),
                new SamplingOptions(true, 1.0, 0, 1.0, 0.0, config.generation().sampling().repetitionPenalty(), 0L),
                List.of(), true);
        PrintWriter out = ctx.out();
        Map<String, Object> modeResults = new LinkedHashMap<>();
        String backend;
        try (Engine e = ctx.opener().open(config); Session session = e.newSession()) {
            backend = e.backendName();
            for (int i = 0; i < warmup; i++) {
                generate(session, texts.get(0), options);
            }
            for (String mode : modes) {
                List<Map<String, Object>> rows = new ArrayList<>();
                List<GenerationStats> all = new ArrayList<>();
                List<Double> runtimeShares = new ArrayList<>();
                for (int i = 0; i < texts.size(); i++) {
                    long runtime0 = e.runtimeNanos();
                    long wall0 = System.nanoTime();
                    GenerationResult r = generate(session, texts.get(i), options);
                    long wall = System.nanoTime() - wall0;
                    long runtime = e.runtimeNanos() - runtime0;
                    GenerationStats s = r.stats();
                    all.add(s);
                    Map<String, Object> row = new LinkedHashMap<>();
                    row.put("index", i);
                    row.put("prompt", texts.get(i));
                    row.putAll(Reports.stats(s));
                    row.put("finish_reason", Reports.finishReason(r.finishReason()));
                    row.put("tokens", r.tokenIds());
                    if (runtime0 >= 0 && wall > 0) {
                        // share of the request's wall time spent inside the backend runtime; the
                        // rest is Java-side work (sampling, tokenizer, JNI marshalling)
                        double share = (double) runtime / wall;
                        row.put("runtime_share", share);
                        runtimeShares.add(share);
                    }
                    rows.add(row);
                    out.println(String.format(Locale.ROOT,
                            "%s #%d: %d prompt + %d generated tokens, TTFT %.1f ms, prefill %.1f tok/s, decode %.1f tok/s",
                            mode, i, s.promptTokens(), s.generatedTokens(), s.ttftMillis(),
                            s.prefillTokensPerSecond(), s.decodeTokensPerSecond()));
                    out.flush();
                }
                Map<String, Object> mean = new LinkedHashMap<>();
                mean.put("ttft_ms", mean(all, GenerationStats::ttftMillis));
                mean.put("prefill_tokens_per_s", mean(all, GenerationStats::prefillTokensPerSecond));
                // a decode speed needs two tokens; one-token answers report 0 and would drag the mean
                mean.put("decode_tokens_per_s", mean(all.stream().filter(st -> st.generatedTokens() >= 2).toList(),
                        GenerationStats::decodeTokensPerSecond));
                mean.put("generated_tokens", mean(all, GenerationStats::generatedTokens));
                Double runtimeShare = runtimeShares.isEmpty() ? null
                        : runtimeShares.stream().mapToDouble(Double::doubleValue).average().orElse(0);
                mean.put("runtime_share", runtimeShare);
                out.println(String.format(Locale.ROOT,
                        "%s mean over %d prompts: TTFT %.1f ms, prefill %.1f tok/s, decode %.1f tok/s%s", mode,
                        rows.size(), (double) mean.get("ttft_ms"), (double) mean.get("prefill_tokens_per_s"),
                        (double) mean.get("decode_tokens_per_s"), runtimeShare == null ? ""
                                : String.format(Locale.ROOT, ", %.1f%% of wall time inside the backend runtime",
                                        100 * runtimeShare)));
                out.flush();
                Map<String, Object> result = new LinkedHashMap<>();
                result.put("prompts", rows);
                result.put("mean", mean);
                modeResults.put(mode, result);
            }
        }
        if (jsonOut != null) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("bundle", config.bundle().toString());
            doc.put("backend", backend);
            doc.put("threads", config.threads());
            doc.put("max_tokens", options.maxNewTokens());
            doc.put("chat", chat);
            doc.put("warmup", warmup);
            doc.put("modes", modeResults);
            Path parent = jsonOut.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            Files.writeString(jsonOut, Json.pretty(doc) + "\n", StandardCharsets.UTF_8);
            ctx.err().println("bench: wrote " + jsonOut);
            ctx.err().flush();
        }
        return 0;
    }

    private GenerationResult generate(Session session, String prompt, GenerationOptions options) throws SkipperException {
        session.reset();
        return chat ? session.chat(List.of(ChatMessage.user(prompt)), options, null)
                : session.generate(prompt, options, null);
    }

    /** Mean of the finite values, or NaN when there is none (written as null). */
    private static double mean(List<GenerationStats> stats, ToDoubleFunction<GenerationStats> f) {
        double sum = 0;
        int n = 0;
        for (GenerationStats s : stats) {
            double v = f.applyAsDouble(s);
            if (Double.isFinite(v)) {
                sum += v;
                n++;
            }
        }
        return n == 0 ? Double.NaN : sum / n;
    }
}
