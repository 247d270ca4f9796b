package dev.skipper.cli;

import dev.skipper.api.SpeculationMode;
import dev.skipper.core.config.BackendChoice;
import dev.skipper.core.config.ConfigException;
import dev.skipper.core.config.DeploymentConfig;
import dev.skipper.core.config.DeploymentConfigLoader;
import dev.skipper.core.config.Overrides;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

/** Where the deployment comes from and how the engine runs: flags every command shares. */
final class EngineOptions {
    @Option(names = "--config", paramLabel = "FILE", order = 1,
            description = "Deployment file (YAML, docs/configuration.md). Flags given on the command line "
                    + "override its values.")
    Path config;

    @Option(names = "--bundle", paramLabel = "DIR", order = 2,
            description = "Bundle directory (holds manifest.yaml), relative to the working directory. "
                    + "With --config it replaces the file's bundle.")
    Path bundle;

    @Option(names = "--threads", paramLabel = "N", order = 3,
            description = "Intra-op threads; 0 = the backend's default.")
    Integer threads;

    @Option(names = "--backend", paramLabel = "LIST", split = ",", order = 4,
            description = "Backends to try, in order, comma-separated: auto, or some of cpu, cuda, ort-tensorrt, tensorrt.")
    List<String> backends;

    @Option(names = "--context-length", paramLabel = "N", order = 5,
            description = "Tokens of context to allocate; 0 = the model's maximum.")
    Integer contextLength;

    @Option(names = "--mode", paramLabel = "MODE", order = 6,
            description = "Speculative decoding: off, auto, early-exit, exit-head, layer-skip, feature or ngram (overrides "
                    + "speculation.mode; every mode gives the same output as off).")
    String mode;

    /**
     * The deployment before command-line overrides: the file's, or the defaults for {@code --bundle}.
     *
     * @param spec the command, for usage errors
     * @return the deployment
     * @throws ConfigException if the file is invalid
     * @throws IOException if it cannot be read
     */
    DeploymentConfig base(CommandSpec spec) throws ConfigException, IOException {
        requireSource(spec);
        return config != null ? DeploymentConfigLoader.load(config) : DeploymentConfig.defaults(resolvedBundle());
    }

    /**
     * Checks that a deployment file or a bundle was given.
     *
     * @param spec the command, for usage errors
     * @throws ParameterException if neither was
     */
    void requireSource(CommandSpec spec) {
        if (config == null && bundle == null) {
            throw new ParameterException(spec.commandLine(), "give --config FILE or --bundle DIR");
        }
    }

    /**
     * Adds these flags to the overrides.
     *
     * @param spec the command, for usage errors
     * @param b the overrides being built
     */
    void addTo(CommandSpec spec, Overrides.Builder b) {
        b.bundle(bundle == null ? null : resolvedBundle());
        b.threads(threads);
        b.contextLength(contextLength);
        if (mode != null) {
            try {
                b.speculationMode(SpeculationMode.parse(mode));
            } catch (IllegalArgumentException e) {
                throw new ParameterException(spec.commandLine(), "--mode: " + e.getMessage());
            }
        }
        if (backends != null) {
            List<BackendChoice> choices = new ArrayList<>();
            for (String name : backends) {
                choices.add(backend(spec, name));
            }
            b.backends(choices);
        }
    }

    private Path resolvedBundle() {
        return bundle.toAbsolutePath().normalize();
    }

    private static BackendChoice backend(CommandSpec spec, String name) {
        for (BackendChoice c : BackendChoice.values()) {
            if (c.yamlName().equals(name.strip().toLowerCase(Locale.ROOT))) {
                return c;
            }
        }
        throw new ParameterException(spec.commandLine(),
                "--backend: must be auto, cpu, cuda, ort-tensorrt or tensorrt, got '" + name + "'");
    }
}
