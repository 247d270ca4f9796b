package dev.skipper.cli;

import dev.skipper.core.config.Overrides;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

/** Generation flags shared by {@code run} and {@code chat}. */
final class GenerationFlags {
    @Option(names = "--max-tokens", paramLabel = "N", order = 20,
            description = "Most tokens to generate (default: the file's generation.max_new_tokens, else 256).")
    Integer maxTokens;

    @Option(names = "--greedy", order = 21,
            description = "Always pick the most likely token (the default unless the file samples). "
                    + "Cannot be combined with the sampling flags below.")
    boolean greedy;

    @Option(names = "--temperature", paramLabel = "T", order = 22,
            description = "Sample with this temperature (> 0; default 1.0). Any sampling flag switches greedy "
                    + "decoding off.")
    Double temperature;

    @Option(names = "--top-p", paramLabel = "P", order = 23,
            description = "Sample from the smallest set of tokens whose probability reaches P, in (0, 1]; 1 = off.")
    Double topP;

    @Option(names = "--top-k", paramLabel = "K", order = 24,
            description = "Sample from the K most likely tokens; 0 = off.")
    Integer topK;

    @Option(names = "--min-p", paramLabel = "M", order = 25,
            description = "Drop tokens less likely than M times the most likely one, in [0, 1); 0 = off.")
    Double minP;

    @Option(names = "--seed", paramLabel = "S", order = 26,
            description = "Random seed for sampling: the same seed, prompt and settings give the same text.")
    Long seed;

    @Option(names = "--repetition-penalty", paramLabel = "R", order = 27,
            description = "Penalise recently generated tokens, >= 1; 1 = off. Applies to greedy decoding too.")
    Double repetitionPenalty;

    @Option(names = "--stop", paramLabel = "STR", order = 28,
            description = "Stop before STR is generated (repeatable; replaces the file's list). "
                    + "For a newline use the shell's $'\\n'.")
    List<String> stop;

    /**
     * Adds these flags to the overrides.
     *
     * @param spec the command, for usage errors
     * @param b the overrides being built
     * @throws ParameterException if --greedy is combined with a sampling flag
     */
    void addTo(CommandSpec spec, Overrides.Builder b) {
        List<String> sampling = samplingFlags();
        if (greedy && !sampling.isEmpty()) {
            throw new ParameterException(spec.commandLine(), "--greedy cannot be combined with "
                    + String.join(", ", sampling) + " (sampling flags switch greedy decoding off)");
        }
        if (greedy) {
            b.greedy(true);
        } else if (!sampling.isEmpty()) {
            b.greedy(false);
        }
        b.maxNewTokens(maxTokens).temperature(temperature).topP(topP).topK(topK).minP(minP).seed(seed)
                .repetitionPenalty(repetitionPenalty).stop(stop);
    }

    /** The sampling flags given, by name. */
    private List<String> samplingFlags() {
        List<String> given = new ArrayList<>();
        if (temperature != null) {
            given.add("--temperature");
        }
        if (topP != null) {
            given.add("--top-p");
        }
        if (topK != null) {
            given.add("--top-k");
        }
        if (minP != null) {
            given.add("--min-p");
        }
        if (seed != null) {
            given.add("--seed");
        }
        return given;
    }
}
