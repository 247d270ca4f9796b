package dev.skipper.cli;

import dev.skipper.api.AdaptiveDepth;
import dev.skipper.api.Engine;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.SamplingOptions;
import dev.skipper.api.ScoreResult;
import dev.skipper.api.Session;
import dev.skipper.api.SkipperException;
import dev.skipper.core.Backends;
import dev.skipper.core.Skipper;
import dev.skipper.core.config.DeploymentConfig;
import dev.skipper.core.text.PromptFile;
import dev.skipper.runtime.spi.BackendOptions;
import dev.skipper.runtime.spi.BackendProvider;
import dev.skipper.runtime.spi.DeviceOptions;
import dev.skipper.runtime.spi.DevicePrecision;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code gpu-check}: the one command a user with a GPU runs. Detects the GPU, builds the engines,
 * checks the GPU backend against the CPU backend on real text (teacher-forced top-1 agreement) and
 * against itself (greedy speculative == greedy plain), then prints a speed table. Without a usable
 * GPU it says why and exits 0.
 */
@Command(name = "gpu-check", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {
            "Check the TensorRT backend on this machine's GPU: detect the GPU; build the bundle's engines (cached); "
                    + "teacher-forced top-1 agreement with the cpu backend on each --text-file (must reach "
                    + "--min-agreement); greedy speculative decoding (--modes) token-identical to greedy plain "
                    + "decoding on the GPU for every --prompts line; then TTFT and decode tok/s of plain and "
                    + "speculative decoding on the GPU and plain decoding on the CPU, measured in this run.",
            "Without a usable GPU (no NVIDIA driver, no CUDA 13 or TensorRT 10 libraries) it prints why and exits 0. "
                    + "./skipper gpu-check supplies a standard-flavour bundle, held-out text and prompts."},
        footer = {"", "Exit status: 0 every check passed, or there is no GPU to check; 2 usage error, a failed check "
                + "or a failure (one 'error: ...' line on stderr)."})
final class GpuCheckCommand implements Callable<Integer> {
    private final CliContext ctx;

    @Spec
    CommandSpec spec;

    @Option(names = "--config", paramLabel = "FILE", order = 1, description = "Deployment file (bundle, gpu: section).")
    Path config;

    @Option(names = "--bundle", paramLabel = "DIR", order = 2,
            description = "Bundle of the standard flavour (with --config it replaces the file's).")
    Path bundle;

    @Mixin
    DeviceFlags device = new DeviceFlags();

    @Option(names = "--text-file", paramLabel = "FILE", order = 10,
            description = "Real text for the agreement check (repeatable; each must fit the context).")
    List<Path> texts = new ArrayList<>();

    @Option(names = "--prompts", paramLabel = "FILE", order = 11,
            description = "Prompt file(s) for the identity check and the speed table: one prompt per line.")
    List<Path> prompts = new ArrayList<>();

    @Option(names = "--max-tokens", paramLabel = "N", order = 12, defaultValue = "64",
            description = "Tokens generated per prompt (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--modes", paramLabel = "LIST", split = ",", order = 13,
            defaultValue = "auto,ngram,layer-skip,early-exit",
            description = "Speculative modes checked against plain decoding (default: ${DEFAULT-VALUE}); a mode the "
                    + "bundle cannot run on the cpu backend either is reported as skipped.")
    List<String> modes;

    @Option(names = "--min-agreement", paramLabel = "X", order = 14, defaultValue = "0.99",
            description = "Least teacher-forced top-1 agreement with the cpu backend (default: ${DEFAULT-VALUE}).")
    double minAgreement;

    @Option(names = "--json", order = 30, description = "Print every figure as one JSON object on stdout.")
    boolean json;

    // The GPU backend checked: tensorrt; tests name a stand-in of its native calls.
    @Option(names = "--backend", paramLabel = "NAME", hidden = true, defaultValue = "tensorrt")
    String backend;

    // For the launcher: prints "usable" or "unusable: REASON" and exits 0.
    @Option(names = "--probe", hidden = true)
    boolean probe;

    GpuCheckCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
        int ordinal = device.device == null ? 0 : device.device;
        if (ordinal < 0 || ordinal > DeviceOptions.MAX_DEVICE) {
            throw new ParameterException(spec.commandLine(), "--device must be in [0, " + DeviceOptions.MAX_DEVICE
                    + "], got " + ordinal);
        }
        BackendOptions probeOptions = new BackendOptions(0, true,
                new DeviceOptions(ordinal, DevicePrecision.AUTO, null));
        Backends.Status status = Backends.status(backend, probeOptions);
        if (probe) {
            ctx.out().println(status.usable() ? "usable" : "unusable: " + status.unavailableReason());
            return 0;
        }
        if (!status.usable()) {
            if (json) {
                Map<String, Object> doc = new LinkedHashMap<>();
                doc.put("gpu", false);
                doc.put("backend", backend);
                doc.put("reason", status.unavailableReason());
                ctx.out().println(Json.compact(doc));
            } else {
                ctx.out().println("gpu-check: no usable GPU for the " + backend + " backend here: "
                        + status.unavailableReason() + ". Nothing to check: on this machine Skipper runs on the cpu "
                        + "backend (docs/gpu.md says what a GPU machine needs).");
            }
            return 0;
        }
        if (texts.isEmpty() || prompts.isEmpty()) {
            throw new ParameterException(spec.commandLine(), "a GPU is here: give --text-file (real text for the "
                    + "agreement check) and --prompts (prompts for the identity check); ./skipper gpu-check supplies both");
        }
        if (!(minAgreement >= 0 && minAgreement <= 1)) {
            throw new ParameterException(spec.commandLine(), "--min-agreement must be in [0, 1], got " + minAgreement);
        }
        if (maxTokens < 2 || maxTokens > 4096) {
            throw new ParameterException(spec.commandLine(), "--max-tokens must be in [2, 4096], got " + maxTokens);
        }
        for (String m : modes) {
            if (!BenchCommand.MODES.contains(m) || m.equals("ar") || m.equals("adaptive-depth")) {
                throw new ParameterException(spec.commandLine(), "--modes: '" + m + "' is not a lossless speculative "
                        + "mode; use some of auto, ngram, early-exit, exit-head, layer-skip, feature");
            }
        }
        DeploymentConfig cfg = BuildEnginesCommand.resolve(spec, config, bundle, device, DevicePrecision.FP16);
        List<String> promptList = new ArrayList<>();
        for (Path p : prompts) {
            try {
                promptList.addAll(PromptFile.read(p));
            } catch (IOException e) {
                throw new SkipperException(e.getMessage(), e);
            }
        }
        PrintWriter out = ctx.out();
        PrintWriter log = json ? ctx.err() : out;
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("gpu", true);
        doc.put("backend", backend);
        doc.put("device", status.device());
        doc.put("bundle", cfg.bundle().toString());
        doc.put("precision", cfg.gpu().precision().yamlName());
        log.println("gpu-check: " + status.device());

        // 1. Engines.
        ProgressLine bar = ProgressLine.forCommand(ctx.err(), "gpu-check: engines");
        long t0 = System.nanoTime();
        BackendProvider.Preparation prep;
        try {
            prep = Backends.prepare(cfg, backend, (done, total, item, built) ->
                    bar.update(done, total, item, built ? "built" : "cached"));
        } finally {
            bar.finish();
        }
        double buildSeconds = (System.nanoTime() - t0) / 1e9;
        doc.put("engines", map("count", prep.items(), "built", prep.built(), "seconds", buildSeconds,
                "directory", String.valueOf(prep.directory())));
        log.println(String.format(Locale.ROOT, "gpu-check: %d engines (%d built now) in %.1f s, cache %s",
                prep.items(), prep.built(), buildSeconds, prep.directory()));

        GenerationOptions greedy = new GenerationOptions(maxTokens, SamplingOptions.GREEDY, List.of(), true);
        List<String> failures = new ArrayList<>();
        try (Engine gpu = Skipper.open(cfg.bundle(), cfg.backendOptions(), List.of(backend), cfg.contextLength(),
                cfg.speculation());
             Engine cpu = Skipper.open(cfg.bundle(), cfg.backendOptions(), List.of("cpu"), cfg.contextLength(),
                     cfg.speculation());
             Session gs = gpu.newSession();
             Session cs = cpu.newSession()) {
            // 2. Teacher-forced agreement with the CPU backend on real text.
            long same = 0;
            long positions = 0;
            List<Map<String, Object>> perText = new ArrayList<>();
            for (Path t : texts) {
                String text = ScoreCommand.readText(t);
                gs.reset();
                cs.reset();
                ScoreResult g = gs.score(text);
                ScoreResult c = cs.score(text);
                int n = Math.min(g.argmax().length, c.argmax().length);
                int agree = 0;
                for (int i = 0; i < n; i++) {
                    agree += g.argmax()[i] == c.argmax()[i] ? 1 : 0;
                }
                same += agree;
                positions += n;
                double a = n == 0 ? Double.NaN : (double) agree / n;
                perText.add(map("file", t.toString(), "positions", n, "agreement", a,
                        "perplexity_gpu", g.perplexity(), "perplexity_cpu", c.perplexity()));
                log.println(String.format(Locale.ROOT, "gpu-check: agreement %s: %.4f over %d positions "
                        + "(perplexity %s %.3f, cpu %.3f)", t.getFileName(), a, n, backend, g.perplexity(), c.perplexity()));
            }
            double agreement = positions == 0 ? Double.NaN : (double) same / positions;
            boolean agreementOk = agreement >= minAgreement;
            if (!agreementOk) {
                failures.add(String.format(Locale.ROOT, "top-1 agreement with the cpu backend %.4f < %.4f", agreement,
                        minAgreement));
            }
            doc.put("agreement", map("overall", agreement, "min", minAgreement, "passed", agreementOk,
                    "texts", perText));
            log.println(String.format(Locale.ROOT, "gpu-check: agreement overall %.4f over %d positions: %s (>= %.2f)",
                    agreement, positions, agreementOk ? "PASS" : "FAIL", minAgreement));

            // 3. Greedy speculative == greedy plain on the GPU, with speeds from the same runs.
            List<String> checked = new ArrayList<>(List.of("ar"));
            Map<String, Object> skipped = new LinkedHashMap<>();
            for (String m : modes) {
                GenerationOptions o = BenchCommand.options(greedy, m, AdaptiveDepth.OFF);
                String cpuProblem = tryRun(cs, promptList.get(0), o);
                String gpuProblem = tryRun(gs, promptList.get(0), o); // also the warm-up run
                if (cpuProblem != null) {
                    skipped.put(m, cpuProblem);
                    log.println("gpu-check: mode " + m + " skipped: the bundle cannot run it (" + cpuProblem + ")");
                } else if (gpuProblem != null) {
                    failures.add("mode " + m + " fails on " + backend + ": " + gpuProblem);
                } else {
                    checked.add(m);
                }
            }
            tryRun(gs, promptList.get(0), greedy); // warm-up of plain decoding
            tryRun(cs, promptList.get(0), greedy);
            Map<String, Rates> rates = new LinkedHashMap<>();
            Map<String, Integer> identical = new LinkedHashMap<>();
            Rates cpuPlain = new Rates();
            for (String m : checked) {
                rates.put(m, new Rates());
                identical.put(m, 0);
            }
            for (String prompt : promptList) {
                int[] plain = null;
                for (String m : checked) {
                    GenerationResult r = run(gs, prompt, BenchCommand.options(greedy, m, AdaptiveDepth.OFF));
                    rates.get(m).add(r);
                    if (plain == null) {
                        plain = r.tokenIds();
                    }
                    if (Arrays.equals(plain, r.tokenIds())) {
                        identical.merge(m, 1, Integer::sum);
                    }
                }
                cpuPlain.add(run(cs, prompt, greedy));
            }
            Map<String, Object> identity = new LinkedHashMap<>();
            for (String m : checked) {
                if (m.equals("ar")) {
                    continue;
                }
                int ok = identical.get(m);
                identity.put(m, map("identical", ok, "prompts", promptList.size()));
                if (ok != promptList.size()) {
                    failures.add("greedy " + m + " differs from greedy plain decoding on " + backend + " in "
                            + (promptList.size() - ok) + " of " + promptList.size() + " prompts");
                }
                log.println(String.format(Locale.ROOT, "gpu-check: identity %s == plain on %s: %d/%d prompts: %s", m,
                        backend, ok, promptList.size(), ok == promptList.size() ? "PASS" : "FAIL"));
            }
            doc.put("identity", map("modes", identity, "skipped", skipped));

            // 4. Speed table (this run only; one machine, one process).
            Map<String, Object> bench = new LinkedHashMap<>();
            log.println(String.format(Locale.ROOT, "gpu-check: speed over %d prompts, up to %d tokens, greedy:",
                    promptList.size(), maxTokens));
            log.println(String.format(Locale.ROOT, "  %-22s %10s %14s %10s", "backend / mode", "TTFT ms", "decode tok/s",
                    "vs plain"));
            double plainRate = rates.get("ar").decodeRate();
            for (Map.Entry<String, Rates> e : rates.entrySet()) {
                Rates r = e.getValue();
                bench.put(backend + " " + e.getKey(), r.json());
                log.println(String.format(Locale.ROOT, "  %-22s %10.1f %14.1f %9.2fx", backend + " " + e.getKey(),
                        r.ttft(), r.decodeRate(), r.decodeRate() / plainRate));
            }
            bench.put("cpu ar", cpuPlain.json());
            log.println(String.format(Locale.ROOT, "  %-22s %10.1f %14.1f %9.2fx", "cpu ar", cpuPlain.ttft(),
                    cpuPlain.decodeRate(), cpuPlain.decodeRate() / plainRate));
            doc.put("bench", bench);
        }
        doc.put("passed", failures.isEmpty());
        doc.put("failures", failures);
        if (json) {
            out.println(Json.compact(doc));
        }
        out.flush();
        if (!failures.isEmpty()) {
            ctx.err().println("error: gpu-check failed: " + String.join("; ", failures));
            return Main.EXIT_ERROR;
        }
        log.println("gpu-check: every check passed");
        return 0;
    }

    /** An ordered JSON object from key, value pairs. */
    private static Map<String, Object> map(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    /** Runs one generation; returns why it failed, or null. */
    private static String tryRun(Session s, String prompt, GenerationOptions o) {
        try {
            run(s, prompt, o);
            return null;
        } catch (SkipperException | IllegalArgumentException | UnsupportedOperationException e) {
            return String.valueOf(e.getMessage());
        }
    }

    private static GenerationResult run(Session s, String prompt, GenerationOptions o) throws SkipperException {
        s.reset();
        return s.generate(prompt, o, null);
    }

    /** Means of TTFT and decode rate over prompts. */
    private static final class Rates {
        private double ttft;
        private double rate;
        private int n;
        private int decoded;

        void add(GenerationResult r) {
            ttft += r.stats().ttftMillis();
            n++;
            if (r.stats().generatedTokens() >= 2) { // one token has no decode rate
                rate += r.stats().decodeTokensPerSecond();
                decoded++;
            }
        }

        double ttft() {
            return n == 0 ? Double.NaN : ttft / n;
        }

        double decodeRate() {
            return decoded == 0 ? Double.NaN : rate / decoded;
        }

        Map<String, Object> json() {
            return map("ttft_ms", ttft(), "decode_tokens_per_s", decodeRate(), "prompts", n);
        }
    }
}
