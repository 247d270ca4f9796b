package dev.skipper.cli;

import dev.skipper.core.config.ConfigException;
import dev.skipper.core.config.DeploymentConfig;
import dev.skipper.core.config.Overrides;
import java.io.IOException;
import java.util.Map;
import java.util.function.Consumer;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;

/** Resolves a command's deployment: file (or defaults), then the command-line flags on top. */
final class Deployments {
    /** Field names in the config's validation messages, and the flags that set them. */
    private static final Map<String, String> FLAG_OF_FIELD = Map.ofEntries(
            Map.entry("max_new_tokens", "--max-tokens"),
            Map.entry("temperature", "--temperature"),
            Map.entry("top_p", "--top-p"),
            Map.entry("top_k", "--top-k"),
            Map.entry("min_p", "--min-p"),
            Map.entry("repetition_penalty", "--repetition-penalty"),
            Map.entry("threads", "--threads"),
            Map.entry("context_length", "--context-length"),
            Map.entry("backend", "--backend"),
            Map.entry("stop", "--stop"),
            Map.entry("device", "--device"));

    private Deployments() {}

    /**
     * The deployment a command runs: request &gt; command line &gt; file &gt; defaults, where the
     * command line is {@code engine}'s flags plus whatever {@code flags} adds.
     *
     * @param spec the command, for usage errors
     * @param engine the shared engine flags
     * @param flags adds the command's own overrides; may throw {@link ParameterException}
     * @return the deployment
     * @throws ParameterException when a flag's value is out of range (picocli reports it, exit 2)
     * @throws ConfigException if the deployment file is invalid
     * @throws IOException if it cannot be read
     */
    static DeploymentConfig resolve(CommandSpec spec, EngineOptions engine, Consumer<Overrides.Builder> flags)
            throws ConfigException, IOException {
        engine.requireSource(spec);
        Overrides.Builder b = Overrides.builder();
        engine.addTo(spec, b);
        flags.accept(b);
        Overrides overrides = b.build();
        DeploymentConfig base = engine.base(spec);
        try {
            return base.withOverrides(overrides);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), flagMessage(e.getMessage()));
        }
    }

    /** Rewrites {@code top_p must be ...} as {@code --top-p must be ...}. */
    static String flagMessage(String message) {
        if (message == null) {
            return "invalid value";
        }
        int end = 0;
        while (end < message.length() && (Character.isLetter(message.charAt(end)) || message.charAt(end) == '_')) {
            end++;
        }
        String flag = FLAG_OF_FIELD.get(message.substring(0, end));
        if (flag == null) {
            return message;
        }
        String rest = message.substring(end);
        if (flag.equals("--stop") && rest.startsWith(" strings")) {
            rest = rest.substring(" strings".length()); // "stop strings must not be empty"
            return "--stop values" + rest;
        }
        return flag + rest;
    }
}
