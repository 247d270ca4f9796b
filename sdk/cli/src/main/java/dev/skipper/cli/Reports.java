package dev.skipper.cli;

import dev.skipper.api.AdaptiveDepthStats;
import dev.skipper.api.DrafterStats;
import dev.skipper.api.FinishReason;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.GenerationStats;
import dev.skipper.api.ModelInfo;
import dev.skipper.api.ScoreResult;
import dev.skipper.api.SpeculationStats;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/** How results are shown: the stats line and the JSON objects (schemas in docs/cli.md). */
final class Reports {
    private Reports() {}

    /**
     * @param reason a finish reason
     * @return its name in lower case ({@code eos}, {@code stop_string}, {@code max_tokens}, ...)
     */
    static String finishReason(FinishReason reason) {
        return reason.name().toLowerCase(Locale.ROOT);
    }

    /**
     * The one-line summary printed on stderr after a generation.
     *
     * @param r the result
     * @param backend the engine's backend
     * @return for example {@code [12 prompt + 64 generated tokens, TTFT 85.3 ms, prefill 140.2 tok/s,
     *     decode 35.1 tok/s, max_tokens, cpu]}
     */
    static String statsLine(GenerationResult r, String backend) {
        GenerationStats s = r.stats();
        return String.format(Locale.ROOT,
                "[%d prompt + %d generated tokens, TTFT %.1f ms, prefill %.1f tok/s, decode %.1f tok/s, %s, %s]",
                s.promptTokens(), s.generatedTokens(), s.ttftMillis(), s.prefillTokensPerSecond(),
                s.decodeTokensPerSecond(), finishReason(r.finishReason()), backend);
    }

    /**
     * One drafter's counts as a JSON object (per request, or summed over a bench set).
     *
     * @return keys rounds, drafted, accepted
     */
    static Map<String, Object> drafterCounts(long rounds, long drafted, long accepted) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("rounds", rounds);
        m.put("drafted", drafted);
        m.put("accepted", accepted);
        return m;
    }

    /**
     * The stats as a JSON object.
     *
     * @param s the stats
     * @return keys prompt_tokens, generated_tokens, ttft_ms, prefill_tokens_per_s, decode_tokens_per_s
     */
    static Map<String, Object> stats(GenerationStats s) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("prompt_tokens", s.promptTokens());
        m.put("generated_tokens", s.generatedTokens());
        m.put("ttft_ms", s.ttftMillis());
        m.put("prefill_tokens_per_s", s.prefillTokensPerSecond());
        m.put("decode_tokens_per_s", s.decodeTokensPerSecond());
        SpeculationStats sp = s.speculation();
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("rounds", sp.rounds());
        spec.put("drafted", sp.drafted());
        spec.put("accepted", sp.accepted());
        spec.put("acceptance_rate", sp.acceptanceRate());
        spec.put("mean_accepted_per_round", sp.meanAcceptedPerRound());
        spec.put("plain_steps", sp.plainSteps());
        spec.put("layers_per_token", sp.layersPerToken());
        spec.put("draft_ms", sp.draftMillis());
        spec.put("verify_ms", sp.verifyMillis());
        spec.put("switched_off", sp.switchedOff());
        Map<String, Object> by = new LinkedHashMap<>();
        for (DrafterStats d : sp.byDrafter()) {
            by.put(d.name(), drafterCounts(d.rounds(), d.drafted(), d.accepted()));
        }
        spec.put("by_drafter", by);
        m.put("speculation", spec);
        AdaptiveDepthStats d = s.adaptiveDepth();
        if (d.tokens() > 0) { // only when the lossy mode ran
            Map<String, Object> depth = new LinkedHashMap<>();
            depth.put("lossy", true);
            depth.put("tokens", d.tokens());
            depth.put("exited", d.exited());
            depth.put("exit_rate", d.exitRate());
            depth.put("layers_per_token", d.layersPerToken());
            m.put("adaptive_depth", depth);
        }
        return m;
    }

    /**
     * {@code run --json}'s object.
     *
     * @param r the result
     * @param bundle the engine's bundle, or null when it has none (test doubles)
     * @return keys bundle (when known), text, prompt_tokens, tokens, finish_reason, stats
     */
    static Map<String, Object> run(GenerationResult r, ModelInfo bundle) {
        Map<String, Object> m = new LinkedHashMap<>();
        if (bundle != null) { // test doubles of the engine have no bundle
            m.put("bundle", recipe(bundle));
        }
        m.put("text", r.text());
        m.put("prompt_tokens", r.stats().promptTokens());
        m.put("tokens", r.tokenIds());
        m.put("finish_reason", finishReason(r.finishReason()));
        m.put("stats", stats(r.stats()));
        return m;
    }

    /**
     * The arithmetic a bundle computes with, so a result says which recipe made it.
     *
     * @param m the model
     * @return keys producer, weights, activations, matmul_accuracy (int8: activations quantized per
     *     block inside the quantized matmuls), exact_arithmetic (float32 on the source's own values)
     */
    static Map<String, Object> recipe(ModelInfo m) {
        ModelInfo.Recipe recipe = m.recipe();
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("producer", recipe.producer());
        r.put("weights", recipe.weights());
        r.put("activations", recipe.activations());
        r.put("matmul_accuracy", recipe.matmulAccuracy());
        r.put("exact_arithmetic", recipe.exactArithmetic());
        return r;
    }

    /**
     * {@code score --json}'s object.
     *
     * @param r the scores
     * @param bundle the engine's bundle, or null when it has none (test doubles)
     * @return keys bundle (when known: {@link #recipe} and its path), tokens, argmax, logprobs,
     *     perplexity
     */
    static Map<String, Object> score(ScoreResult r, ModelInfo bundle) {
        Map<String, Object> m = new LinkedHashMap<>();
        if (bundle != null) {
            Map<String, Object> b = recipe(bundle);
            b.put("path", bundle.bundle().toString());
            m.put("bundle", b);
        }
        m.put("tokens", r.tokens());
        m.put("argmax", r.argmax());
        m.put("logprobs", r.logprobs());
        m.put("perplexity", r.perplexity());
        return m;
    }
}
