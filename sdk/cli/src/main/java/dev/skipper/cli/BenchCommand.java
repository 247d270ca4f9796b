package dev.skipper.cli;

import dev.skipper.api.AdaptiveDepth;
import dev.skipper.api.ChatMessage;
import dev.skipper.api.DrafterStats;
import dev.skipper.api.Engine;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.GenerationStats;
import dev.skipper.api.SamplingOptions;
import dev.skipper.api.Session;
import dev.skipper.api.SkipperException;
import dev.skipper.api.SpeculationMode;
import dev.skipper.api.SpeculationStats;
import dev.skipper.core.config.DeploymentConfig;
import dev.skipper.core.text.PromptFile;
import dev.skipper.runtime.spi.BackendOptions;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
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

/** {@code bench}: decoding speed per prompt set and mode, side by side in one run. */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {
            "Benchmark decoding modes on a set of prompts: each prompt is generated greedily in a fresh "
                    + "conversation, up to --max-tokens tokens or end of sequence.",
            "Prints one line per prompt and the means to stdout; --json writes every figure to a file.",
            "Modes: ar (plain autoregressive decoding), auto (= spec), ngram, early-exit, exit-head, layer-skip, feature: "
                    + "self-speculative decoding with the deployment's speculation settings; greedy, so every "
                    + "mode gives the same tokens and only speed differs.",
            "./skipper bench also runs llama.cpp modes and draws --plot (docs/benchmarks.md)."},
        footer = {"", "Exit status: 0 done; 2 usage error or failure (one 'error: ...' line on stderr).",
            "JSON schema: docs/cli.md."})
final class BenchCommand implements Callable<Integer> {
    /** Most warm-up runs and repeats: a bench is minutes, not days (2^31 repeats never ends). */
    static final int MAX_RUNS = 100;

    /** Modes this command runs ({@code spec} is {@code auto}). */
    static final List<String> MODES = List.of("ar", "spec", "auto", "ngram", "early-exit", "exit-head", "layer-skip",
            "feature", "adaptive-depth");

    private final CliContext ctx;

    @Spec
    CommandSpec spec;

    @Mixin
    EngineOptions engine = new EngineOptions();

    @Option(names = "--prompts", paramLabel = "FILE", required = true, order = 10, split = ",",
            description = "Prompt sets (repeat or comma-separate): one prompt per line, \\n for a newline "
                    + "(UTF-8; blank lines skipped). Each file is reported separately, named by its stem.")
    List<Path> prompts;

    @Option(names = "--max-tokens", paramLabel = "N", order = 11,
            description = "Most tokens to generate per prompt (default: the file's generation.max_new_tokens, "
                    + "else 256).")
    Integer maxTokens;

    @Option(names = "--modes", paramLabel = "LIST", split = ",", order = 12, defaultValue = "ar",
            description = "Comma-separated decoding modes (default: ${DEFAULT-VALUE}). Available: ar, spec, "
                    + "auto, ngram, early-exit, exit-head, layer-skip, feature, adaptive-depth (LOSSY: exits at calibrated layers, "
                    + "adaptive_depth.precision of the deployment, default 0.97).")
    List<String> modes;

    @Option(names = "--chat", order = 13, description = "Send each prompt as a user turn through the chat template.")
    boolean chat;

    @Option(names = "--warmup", paramLabel = "N", order = 14, defaultValue = "1",
            description = "Untimed runs of the first prompt before measuring, 0 to " + MAX_RUNS
                    + " (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--repeat", paramLabel = "N", order = 15, defaultValue = "1",
            description = "Runs of each prompt in each mode, 1 to " + MAX_RUNS + "; the fastest decode counts "
                    + "(default: ${DEFAULT-VALUE}). "
                    + "Other tenants of a shared machine slow single runs down by 10 %% and more.")
    int repeat;

    @Option(names = "--json", paramLabel = "OUT", order = 40, description = "Write the measurements as JSON to OUT.")
    Path jsonOut;

    BenchCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
        for (String m : modes) {
            if (!MODES.contains(m)) {
                throw new ParameterException(spec.commandLine(), "--modes: unknown mode '" + m + "'; available: "
                        + String.join(", ", MODES));
            }
        }
        if (warmup < 0 || warmup > MAX_RUNS) {
            throw new ParameterException(spec.commandLine(), "--warmup must be in [0, " + MAX_RUNS + "], got " + warmup);
        }
        if (repeat < 1 || repeat > MAX_RUNS) {
            throw new ParameterException(spec.commandLine(), "--repeat must be in [1, " + MAX_RUNS + "], got " + repeat);
        }
        if (jsonOut != null && (jsonOut.getFileName() == null || jsonOut.getFileName().toString().isBlank())) {
            throw new ParameterException(spec.commandLine(), "--json: '" + jsonOut + "' names no file");
        }
        DeploymentConfig config = Deployments.resolve(spec, engine, b -> b.maxNewTokens(maxTokens));
        Map<String, List<String>> sets = new LinkedHashMap<>();
        for (Path file : prompts) {
            String name = file.getFileName().toString().replaceFirst("\\.[^.]*$", "");
            try {
                sets.put(name, PromptFile.read(file));
            } catch (java.io.IOException e) {
                throw new SkipperException(e.getMessage(), e);
            }
        }
        // Greedy, no stop strings: every mode must produce the same tokens, so only speed differs.
        GenerationOptions greedy = new GenerationOptions(config.generation().maxNewTokens(),
                new SamplingOptions(true, 1.0, 0, 1.0, 0.0, config.generation().sampling().repetitionPenalty(), 0L),
                List.of(), true);
        // The lossy mode's precision: the deployment's adaptive_depth.precision (default 0.97).
        AdaptiveDepth depth = AdaptiveDepth.lossy(config.speculation().adaptiveDepth().precision());
        PrintWriter out = ctx.out();
        Map<String, Object> setResults = new LinkedHashMap<>();
        String backend;
        Map<String, Object> recipe;
        long rssStart = ProcessMemory.rss();
        long rssOpen;
        long rssSession;
        Map<String, Object> memoryEnd;
        try (Engine e = openMeasured(config); Session session = e.newSession()) {
            rssOpen = rssAfterOpen;
            rssSession = ProcessMemory.rss();
            backend = e.backendName();
            recipe = e.model() == null ? null : Reports.recipe(e.model()); // null: a test double
            for (String mode : modes) { // warm up every mode's buffers and the JIT
                for (int i = 0; i < warmup; i++) {
                    generate(session, sets.values().iterator().next().get(0), options(greedy, mode, depth));
                }
            }
            for (Map.Entry<String, List<String>> set : sets.entrySet()) {
                List<String> texts = set.getValue();
                Map<String, ModeRuns> runs = new LinkedHashMap<>();
                for (String mode : modes) {
                    runs.put(mode, new ModeRuns(mode, texts.size()));
                }
                // Prompt-major order: each prompt runs in every mode back to back, so drifts of the
                // machine's speed hit all modes alike.
                for (int i = 0; i < texts.size(); i++) {
                    for (String mode : modes) {
                        GenerationStats s = measure(e, session, texts.get(i), options(greedy, mode, depth),
                                runs.get(mode), i);
                        out.println(String.format(Locale.ROOT,
                                "%s %s #%d: %d prompt + %d generated tokens, TTFT %.1f ms, decode %.1f tok/s%s",
                                set.getKey(), mode, i, s.promptTokens(), s.generatedTokens(), s.ttftMillis(),
                                s.decodeTokensPerSecond(), specLine(s.speculation())));
                        out.flush();
                    }
                }
                Map<String, Object> modeResults = new LinkedHashMap<>();
                ModeRuns first = runs.get(modes.get(0));
                double arRate = Double.NaN;
                for (String mode : modes) {
                    Map<String, Object> mean = summarize(set.getKey(), runs.get(mode), first, arRate, out);
                    if (mode.equals("ar")) {
                        arRate = (double) mean.get("decode_tokens_per_s");
                    }
                    Map<String, Object> result = new LinkedHashMap<>();
                    result.put("mean", mean);
                    result.put("prompts", runs.get(mode).rows);
                    modeResults.put(mode, result);
                }
                setResults.put(set.getKey(), modeResults);
            }
            memoryEnd = ProcessMemory.snapshot(); // with the engine and session still open
        }
        if (jsonOut != null) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("bundle", config.bundle().toString());
            doc.put("backend", backend);
            if (recipe != null) {
                doc.put("recipe", recipe);
            }
            // What ran (Skipper.open caps at the processors), so llama.cpp gets the same count.
            doc.put("threads", Math.min(config.threads(), BackendOptions.availableProcessors()));
            doc.put("max_tokens", greedy.maxNewTokens());
            doc.put("chat", chat);
            doc.put("warmup", warmup);
            doc.put("repeat", repeat);
            doc.put("modes", modes);
            doc.put("sets", setResults);
            doc.put("memory", memory(config, rssStart, rssOpen, rssSession, memoryEnd));
            Path parent = jsonOut.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            // next to the target, then renamed over it: an interrupted run leaves no half-written file
            Path tmp = Files.createTempFile(parent, ".bench-", ".json.tmp");
            try {
                Files.writeString(tmp, Json.pretty(doc) + "\n", StandardCharsets.UTF_8);
                Files.move(tmp, jsonOut, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(tmp);
            }
            ctx.err().println("bench: wrote " + jsonOut);
            ctx.err().flush();
        }
        return 0;
    }

    private long rssAfterOpen;

    private Engine openMeasured(DeploymentConfig config) throws Exception {
        Engine e = ctx.opener().open(config);
        rssAfterOpen = ProcessMemory.rss();
        return e;
    }

    /**
     * The {@code memory} section: resident set at each stage (process start, after the engine
     * opened, after the session's KV cache was allocated, at the end), the end snapshot, and what
     * the bundle says the weights and the KV cache at the full context take, and how the cache was
     * allocated ({@code docs/benchmarks.md#memory}).
     */
    private static Map<String, Object> memory(DeploymentConfig config, long start, long open, long session,
                                              Map<String, Object> end) {
        Map<String, Object> m = new LinkedHashMap<>(end);
        Map<String, Object> stages = new LinkedHashMap<>();
        stages.put("start", start);
        stages.put("engine_open", open);
        stages.put("session", session);
        stages.put("end", end.get("rss_bytes"));
        m.put("stages_rss_bytes", stages);
        try {
            dev.skipper.bundle.BundleManifest man = dev.skipper.bundle.BundleManifestReader.read(config.bundle(), false);
            long weights = 0;
            java.util.List<String> files = new ArrayList<>();
            files.add(man.graphs().embed().file());
            man.graphs().layers().forEach(g -> files.add(g.file()));
            files.add(man.graphs().head().file());
            java.util.Set<String> counted = new java.util.HashSet<>(); // a tied head shares embed.bin
            for (String f : files) {
                if (counted.add(f)) {
                    weights += Files.size(man.resolve(f));
                }
                var data = man.externalData(f); // embed.bin: mapped, not copied
                if (data.isPresent() && counted.add(data.get())) {
                    weights += Files.size(man.resolve(data.get()));
                }
            }
            var md = man.model();
            int context = config.contextLength() == 0 ? md.maxPosition() : config.contextLength();
            int bytes = man.kvCache().dtype() == dev.skipper.bundle.BundleManifest.DType.FLOAT16 ? 2 : 4;
            m.put("context_length", context);
            m.put("weights_file_bytes", weights);
            m.put("kv_cache_bytes", 2L * md.numLayers() * md.numKvHeads() * md.headDim() * bytes
                    * (context + man.kvCache().scratchRows()));
            // grow: the cache holds what the sequence reached, up to kv_cache_bytes (memory.kv_cache)
            m.put("kv_cache_allocation", config.memory().kvCache().yamlName());
        } catch (java.io.IOException | SkipperException | RuntimeException ex) {
            m.put("context_length", config.contextLength());
            m.put("weights_file_bytes", -1L); // a test double's bundle, or a bundle that changed under the run
            m.put("kv_cache_bytes", -1L);
        }
        return m;
    }

    static GenerationOptions options(GenerationOptions greedy, String mode, AdaptiveDepth depth) {
        if (mode.equals("adaptive-depth")) {
            return greedy.withSpeculation(SpeculationMode.OFF).withAdaptiveDepth(depth);
        }
        SpeculationMode m = switch (mode) {
            case "ar" -> SpeculationMode.OFF;
            case "spec" -> SpeculationMode.AUTO;
            default -> SpeculationMode.parse(mode);
        };
        return greedy.withSpeculation(m).withAdaptiveDepth(AdaptiveDepth.OFF);
    }

    /** One mode's measurements on one prompt set, one entry per prompt. */
    private static final class ModeRuns {
        final String mode;
        final List<Map<String, Object>> rows = new ArrayList<>(); // the JSON rows
        final List<GenerationStats> stats = new ArrayList<>();
        final List<Double> runtimeShares = new ArrayList<>(); // share of wall time inside the backend
        final int[][] tokens; // [prompt][generated token]

        ModeRuns(String mode, int prompts) {
            this.mode = mode;
            tokens = new int[prompts][];
        }
    }

    /**
     * Runs one prompt {@code --repeat} times (the fastest decode counts) and records it in {@code runs}.
     *
     * @return the stats of the run that counts
     */
    private GenerationStats measure(Engine e, Session session, String prompt, GenerationOptions options,
                                    ModeRuns runs, int index) throws SkipperException {
        GenerationResult r = null;
        long wall = 0;
        long runtime = 0;
        for (int rep = 0; rep < repeat; rep++) {
            long runtime0 = e.runtimeNanos();
            long wall0 = System.nanoTime();
            GenerationResult candidate = generate(session, prompt, options);
            long w = System.nanoTime() - wall0;
            if (r == null || candidate.stats().decodeTokensPerSecond() > r.stats().decodeTokensPerSecond()) {
                r = candidate;
                wall = w;
                runtime = runtime0 < 0 ? -1 : e.runtimeNanos() - runtime0;
            }
        }
        GenerationStats s = r.stats();
        runs.stats.add(s);
        runs.tokens[index] = r.tokenIds();
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("index", index);
        row.put("prompt", prompt);
        row.putAll(Reports.stats(s));
        row.put("finish_reason", Reports.finishReason(r.finishReason()));
        row.put("tokens", r.tokenIds());
        if (runtime >= 0 && wall > 0) {
            // share of the request's wall time inside the backend runtime; the rest is Java-side
            // work (sampling, drafting logic, tokenizer, JNI marshalling)
            double share = (double) runtime / wall;
            row.put("runtime_share", share);
            runs.runtimeShares.add(share);
        }
        runs.rows.add(row);
        return s;
    }

    /**
     * The means of one mode on one prompt set, printed as one line.
     *
     * @param first the first mode's runs: token identity and the shared prefix are measured against them
     * @param arRate plain decoding's mean decode rate when {@code ar} ran before, else NaN
     */
    private static Map<String, Object> summarize(String set, ModeRuns runs, ModeRuns first, double arRate,
                                                 PrintWriter out) {
        String mode = runs.mode;
        List<GenerationStats> all = runs.stats;
        Map<String, Object> mean = new LinkedHashMap<>();
        mean.put("ttft_ms", mean(all, GenerationStats::ttftMillis));
        mean.put("prefill_tokens_per_s", mean(all, GenerationStats::prefillTokensPerSecond));
        // a decode speed needs two tokens; one-token answers report 0 and would drag the mean
        List<GenerationStats> decoded = all.stream().filter(st -> st.generatedTokens() >= 2).toList();
        double rate = mean(decoded, GenerationStats::decodeTokensPerSecond);
        mean.put("decode_tokens_per_s", rate);
        mean.put("generated_tokens", mean(all, GenerationStats::generatedTokens));
        long drafted = 0;
        long accepted = 0;
        long rounds = 0;
        long steps = 0;
        long exits = 0;
        Map<String, long[]> byDrafter = new LinkedHashMap<>(); // name -> {rounds, drafted, accepted}
        for (GenerationStats st : all) {
            for (DrafterStats d : st.speculation().byDrafter()) {
                long[] sum = byDrafter.computeIfAbsent(d.name(), k -> new long[3]);
                sum[0] += d.rounds();
                sum[1] += d.drafted();
                sum[2] += d.accepted();
            }
            drafted += st.speculation().drafted();
            accepted += st.speculation().accepted();
            rounds += st.speculation().rounds();
            steps += st.adaptiveDepth().tokens();
            exits += st.adaptiveDepth().exited();
        }
        mean.put("acceptance_rate", drafted == 0 ? null : (double) accepted / drafted);
        mean.put("mean_accepted_per_round", rounds == 0 ? null : (double) accepted / rounds);
        Map<String, Object> drafterTotals = new LinkedHashMap<>();
        StringBuilder drafterLine = new StringBuilder();
        for (Map.Entry<String, long[]> e : byDrafter.entrySet()) {
            long[] v = e.getValue();
            drafterTotals.put(e.getKey(), Reports.drafterCounts(v[0], v[1], v[2]));
            drafterLine.append(drafterLine.length() == 0 ? " [" : ", ").append(String.format(Locale.ROOT,
                    "%s %d rounds %d/%d", e.getKey(), v[0], v[2], v[1]));
        }
        if (!drafterTotals.isEmpty()) {
            mean.put("by_drafter", drafterTotals);
            drafterLine.append(']');
        }
        mean.put("layers_per_token", mean(all, st -> st.speculation().layersPerToken()));
        mean.put("runtime_share", runs.runtimeShares.isEmpty() ? null
                : runs.runtimeShares.stream().mapToDouble(Double::doubleValue).average().orElse(0));
        double ar = mode.equals("ar") ? rate : arRate;
        double speedup = rate / ar;
        if (!Double.isNaN(ar)) {
            mean.put("speedup_vs_ar", speedup);
        }
        int differing = 0;
        for (int i = 0; i < runs.tokens.length; i++) {
            boolean same = java.util.Arrays.equals(first.tokens[i], runs.tokens[i]);
            differing += same ? 0 : 1;
            for (Map<String, Object> row : runs.rows) {
                if (row.get("index").equals(i)) {
                    row.put("same_tokens_as_first_mode", same);
                }
            }
        }
        mean.put("same_tokens_as_first_mode", differing == 0);
        mean.put("prompts_differing_from_first_mode", differing);
        double prefix = prefixShare(first.tokens, runs.tokens);
        mean.put("prefix_share_with_first_mode", prefix);
        if (steps > 0) {
            mean.put("adaptive_depth_exit_rate", (double) exits / steps);
            mean.put("adaptive_depth_layers_per_token", mean(all, st -> st.adaptiveDepth().layersPerToken()));
        }
        out.println(String.format(Locale.ROOT, "%s %s mean over %d prompts: TTFT %.1f ms, decode %.1f tok/s%s%s",
                set, mode, all.size(), (double) mean.get("ttft_ms"), rate,
                mean.containsKey("speedup_vs_ar") ? String.format(Locale.ROOT, " (%.2fx ar)", speedup) : "",
                drafted == 0 ? "" : String.format(Locale.ROOT, ", acceptance %.2f, %.2f accepted/round",
                        (double) accepted / drafted, rounds == 0 ? 0.0 : (double) accepted / rounds))
                + drafterLine
                + (steps == 0 ? "" : String.format(Locale.ROOT, ", LOSSY: %.2f of steps exited early",
                        (double) exits / steps))
                + (differing == 0 ? "" : String.format(Locale.ROOT, ", DIFFERS from %s on %d/%d prompts (%.2f of "
                        + "tokens before the first difference)", first.mode, differing, runs.tokens.length, prefix)));
        out.flush();
        return mean;
    }

    /** Mean over prompts of the share of b's tokens before its first difference from a's. */
    private static double prefixShare(int[][] a, int[][] b) {
        double sum = 0;
        for (int i = 0; i < a.length; i++) {
            int n = Math.min(a[i].length, b[i].length);
            int same = 0;
            while (same < n && a[i][same] == b[i][same]) {
                same++;
            }
            sum += b[i].length == 0 ? 1.0 : (double) same / Math.max(a[i].length, b[i].length);
        }
        return a.length == 0 ? 1.0 : sum / a.length;
    }

    private static String specLine(SpeculationStats s) {
        if (s.rounds() == 0 && s.plainSteps() == 0) {
            return "";
        }
        return String.format(Locale.ROOT, ", %d rounds, %d/%d drafts accepted, %d plain steps%s", s.rounds(),
                s.accepted(), s.drafted(), s.plainSteps(), s.switchedOff() ? ", switched off" : "");
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
