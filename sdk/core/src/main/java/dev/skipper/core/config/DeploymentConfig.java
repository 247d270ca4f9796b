package dev.skipper.core.config;

import dev.skipper.api.SamplingOptions;
import dev.skipper.runtime.spi.BackendOptions;
import dev.skipper.runtime.spi.DeviceOptions;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * A deployment: which bundle to run, on which backend, with which defaults. Read one from YAML with
 * {@link DeploymentConfigLoader#load(Path)} (schema in {@code docs/configuration.md}), or start from
 * {@link #defaults(Path)}; apply command-line or request settings with {@link #withOverrides}.
 *
 * @param bundle the bundle directory (absolute when loaded from a file)
 * @param backends backends to try, in order; {@code [AUTO]} alone or distinct concrete backends
 *     (default {@code [AUTO]})
 * @param threads intra-op threads, 0 to {@value #MAX_THREADS}; 0 = the backend's default (default 0)
 * @param allowSpinning let idle worker threads spin: lower latency, burns CPU (default true)
 * @param contextLength tokens of context the session allocates, 0 to {@value #MAX_CONTEXT_LENGTH};
 *     0 = the model's {@code max_position} (default 0)
 * @param generation defaults of each request
 * @param speculation speculative decoding settings
 * @param gpu GPU backend settings: device, precision, engine cache (default {@link DeviceOptions#DEFAULTS})
 * @param server {@code skipper serve}'s settings
 * @param memory resident-memory trade-offs (default {@link MemorySettings#DEFAULTS})
 * @param source the YAML file this came from (absolute), or {@code null}
 */
public record DeploymentConfig(Path bundle, List<BackendChoice> backends, int threads, boolean allowSpinning,
                               int contextLength, GenerationDefaults generation, SpeculationConfig speculation,
                               DeviceOptions gpu, ServerSettings server, MemorySettings memory, Path source) {

    /** Default of {@link #backends()}. */
    public static final List<BackendChoice> DEFAULT_BACKENDS = List.of(BackendChoice.AUTO);
    /** Largest {@link #threads()} accepted. */
    public static final int MAX_THREADS = 1024;
    /** Largest {@link #contextLength()} accepted (the model's own maximum is checked at load). */
    public static final int MAX_CONTEXT_LENGTH = 1 << 20;

    /** Validates and copies {@code backends}. */
    public DeploymentConfig {
        Objects.requireNonNull(bundle, "bundle");
        backends = List.copyOf(backends);
        String problem = backendsProblem(backends);
        if (problem != null) {
            throw new IllegalArgumentException("backend " + problem);
        }
        if (threads < 0 || threads > MAX_THREADS) {
            throw new IllegalArgumentException("threads must be in [0, " + MAX_THREADS + "], got " + threads);
        }
        if (contextLength < 0 || contextLength > MAX_CONTEXT_LENGTH) {
            throw new IllegalArgumentException("context_length must be in [0, " + MAX_CONTEXT_LENGTH + "], got "
                    + contextLength);
        }
        Objects.requireNonNull(generation, "generation");
        Objects.requireNonNull(speculation, "speculation");
        Objects.requireNonNull(gpu, "gpu");
        Objects.requireNonNull(server, "server");
        Objects.requireNonNull(memory, "memory");
    }

    /**
     * A deployment with the default {@code memory:} settings.
     *
     * @param bundle the bundle folder
     * @param backends backend choices in fallback order
     * @param threads intra-op threads (0: the backend's default)
     * @param allowSpinning whether worker threads spin between operators
     * @param contextLength tokens of context (0: the bundle's maximum)
     * @param generation generation defaults
     * @param speculation speculation settings
     * @param gpu GPU settings
     * @param server server settings
     * @param source the YAML file it came from, or {@code null}
     */
    public DeploymentConfig(Path bundle, List<BackendChoice> backends, int threads, boolean allowSpinning,
                            int contextLength, GenerationDefaults generation, SpeculationConfig speculation,
                            DeviceOptions gpu, ServerSettings server, Path source) {
        this(bundle, backends, threads, allowSpinning, contextLength, generation, speculation, gpu, server,
                MemorySettings.DEFAULTS, source);
    }

    /**
     * A deployment with the default {@code server:} settings.
     *
     * @param bundle the bundle folder
     * @param backends backend choices in fallback order
     * @param threads intra-op threads (0: the backend's default)
     * @param allowSpinning whether worker threads spin between operators
     * @param contextLength tokens of context (0: the bundle's maximum)
     * @param generation generation defaults
     * @param speculation speculation settings
     * @param gpu GPU settings
     * @param source the YAML file it came from, or {@code null}
     */
    public DeploymentConfig(Path bundle, List<BackendChoice> backends, int threads, boolean allowSpinning,
                            int contextLength, GenerationDefaults generation, SpeculationConfig speculation,
                            DeviceOptions gpu, Path source) {
        this(bundle, backends, threads, allowSpinning, contextLength, generation, speculation, gpu,
                ServerSettings.DEFAULTS, source);
    }

    /**
     * A deployment with every setting at its default.
     *
     * @param bundle the bundle directory
     * @return the deployment, with no source file
     */
    public static DeploymentConfig defaults(Path bundle) {
        return new DeploymentConfig(bundle, DEFAULT_BACKENDS, 0, BackendOptions.DEFAULTS.allowSpinning(), 0, GenerationDefaults.DEFAULTS,
                SpeculationConfig.OFF, DeviceOptions.DEFAULTS, null);
    }

    /**
     * This deployment with some values replaced.
     *
     * @param o the values to replace; {@code null} components keep this deployment's values
     * @return the new deployment (same {@link #source()})
     * @throws IllegalArgumentException when a resulting value is out of range; the message names it
     */
    public DeploymentConfig withOverrides(Overrides o) {
        SamplingOptions s = generation.sampling();
        SamplingOptions sampling = new SamplingOptions(
                pick(o.greedy(), s.greedy()),
                pick(o.temperature(), s.temperature()),
                pick(o.topK(), s.topK()),
                pick(o.topP(), s.topP()),
                pick(o.minP(), s.minP()),
                pick(o.repetitionPenalty(), s.repetitionPenalty()),
                pick(o.seed(), s.seed()));
        GenerationDefaults gen = new GenerationDefaults(pick(o.maxNewTokens(), generation.maxNewTokens()),
                sampling, pick(o.stop(), generation.stop()));
        SpeculationConfig spec = o.speculationMode() == null ? speculation : speculation.withMode(o.speculationMode());
        return new DeploymentConfig(pick(o.bundle(), bundle), pick(o.backends(), backends),
                pick(o.threads(), threads), pick(o.allowSpinning(), allowSpinning),
                pick(o.contextLength(), contextLength), gen, spec,
                new DeviceOptions(pick(o.device(), gpu.device()), pick(o.precision(), gpu.precision()),
                        gpu.engineCache()), server, memory, source);
    }

    /**
     * The backend settings of this deployment.
     *
     * @return threads, spinning, the GPU settings, the CPU arena and KV cache choices from here
     */
    public BackendOptions backendOptions() {
        return new BackendOptions(threads, allowSpinning, gpu, memory.cpuArena(),
                memory.kvCache() == KvAllocation.GROW);
    }

    /** Why a backend list is invalid, or null; shared with the loader so both say the same. */
    static String backendsProblem(List<BackendChoice> backends) {
        if (backends.isEmpty()) {
            return "must name at least one backend";
        }
        Set<BackendChoice> seen = EnumSet.noneOf(BackendChoice.class);
        for (BackendChoice b : backends) {
            if (!seen.add(Objects.requireNonNull(b, "backend"))) {
                return "lists " + b.yamlName() + " twice";
            }
        }
        if (seen.contains(BackendChoice.AUTO) && backends.size() > 1) {
            return "auto must be the only entry (it already tries every backend)";
        }
        return null;
    }

    private static <T> T pick(T override, T current) {
        return override != null ? override : current;
    }
}
