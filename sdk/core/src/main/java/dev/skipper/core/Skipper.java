package dev.skipper.core;

import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.bundle.BundleManifestReader;
import dev.skipper.core.config.BackendChoice;
import dev.skipper.core.config.DeploymentConfig;
import dev.skipper.core.config.SpeculationConfig;
import dev.skipper.core.speculation.SpeculationPolicy;
import dev.skipper.core.tokenizer.Tokenizer;
import dev.skipper.core.tokenizer.Tokenizers;
import dev.skipper.runtime.spi.BackendOptions;
import dev.skipper.runtime.spi.BackendProvider;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.ServiceLoader;

/**
 * Opens bundles: the entry point of the SDK.
 *
 * <pre>{@code
 * try (Engine engine = Skipper.open(DeploymentConfigLoader.load(Path.of("configs/smollm2-135m-cpu.yaml")));
 *      Session session = engine.newSession()) {
 *     GenerationResult r = session.chat(List.of(ChatMessage.user("Hello!")), GenerationOptions.greedy(64), null);
 * }
 * }</pre>
 *
 * <p>Opening reads and validates the bundle's manifest (and the SHA-256 of every file when the
 * options say so), opens its tokenizer, and picks the backend: the names given are tried in order
 * among the {@link BackendProvider}s found by {@link ServiceLoader}; {@code auto} stands for
 * {@code tensorrt, cuda, cpu}. A backend that is not on the class path, says it cannot run here, or
 * fails to open the bundle is skipped with one warning (logged with {@link java.util.logging.Logger} and kept
 * in {@link DefaultEngine#backendWarning()}); under {@code auto}, a GPU backend that is missing or
 * cannot run on this machine is skipped quietly. When none works, the {@link SkipperException}
 * names each backend's reason. {@link Backends} checks a backend and prepares a bundle for it ahead
 * of time (TensorRT engines).
 */
public final class Skipper {
    // java.util.logging, not System.Logger: Android has no System.Logger (System.Logger goes to
    // java.util.logging on a JDK anyway, so the desktop sees no difference)
    private static final java.util.logging.Logger LOG = java.util.logging.Logger.getLogger(Skipper.class.getName());

    private Skipper() {
    }

    /**
     * Opens a bundle.
     *
     * @param bundleDir the bundle directory (holding {@code manifest.yaml})
     * @param options backend settings, including whether to verify the files' hashes
     * @param backendOrder backend names to try in order: {@code auto}, {@code cpu}, {@code cuda},
     *     {@code tensorrt} (case-insensitive)
     * @param contextLength tokens of context per session; 0 = the model's {@code max_position}
     * @return the engine; the caller closes it
     * @throws dev.skipper.api.BundleFormatException if the bundle is invalid
     * @throws SkipperException if it cannot be read, the context length exceeds the model's, or no
     *     backend can run it
     * @throws IllegalArgumentException if {@code contextLength} is negative or the order is empty
     */
    public static DefaultEngine open(Path bundleDir, BackendOptions options, List<String> backendOrder,
                                     int contextLength) throws SkipperException {
        return open(bundleDir, options, backendOrder, contextLength, ServiceLoader.load(BackendProvider.class));
    }

    /**
     * Opens the bundle of a deployment with its backends, threads, spinning and context length
     * (hashes verified). Its generation defaults are the caller's to use:
     * {@code cfg.generation().toOptions()}.
     *
     * @param cfg the deployment, such as {@code DeploymentConfigLoader.load(yaml)} with overrides
     * @return the engine; the caller closes it
     * @throws SkipperException as {@link #open(Path, BackendOptions, List, int)}, and when the
     *     deployment asks for a speculation mode this build does not implement
     */
    public static DefaultEngine open(DeploymentConfig cfg) throws SkipperException {
        Objects.requireNonNull(cfg, "cfg");
        List<String> order = cfg.backends().stream().map(BackendChoice::yamlName).toList();
        DefaultEngine engine = open(cfg.bundle(), cfg.backendOptions(), order, cfg.contextLength(),
                ServiceLoader.load(BackendProvider.class), cfg.speculation());
        return engine;
    }

    /** {@link #open(Path, BackendOptions, List, int)} with the providers given (tests). */
    static DefaultEngine open(Path bundleDir, BackendOptions options, List<String> backendOrder, int contextLength,
                              Iterable<BackendProvider> providers) throws SkipperException {
        return open(bundleDir, options, backendOrder, contextLength, providers, SpeculationConfig.OFF);
    }

    /**
     * Opens a bundle with speculative decoding settings.
     *
     * @param bundleDir the bundle directory
     * @param options backend options
     * @param backendOrder backends to try, in order
     * @param contextLength tokens of context per session (0 = the model's)
     * @param speculation speculative decoding settings (checked against the model here)
     * @return the engine
     * @throws SkipperException if the bundle, a backend or the speculation settings are unusable
     */
    public static DefaultEngine open(Path bundleDir, BackendOptions options, List<String> backendOrder,
                                     int contextLength, SpeculationConfig speculation) throws SkipperException {
        return open(bundleDir, options, backendOrder, contextLength, ServiceLoader.load(BackendProvider.class),
                speculation);
    }

    static DefaultEngine open(Path bundleDir, BackendOptions options, List<String> backendOrder, int contextLength,
                              Iterable<BackendProvider> providers, SpeculationConfig speculation)
            throws SkipperException {
        Objects.requireNonNull(speculation, "speculation");
        Objects.requireNonNull(bundleDir, "bundleDir");
        Objects.requireNonNull(options, "options");
        BackendSelector.expand(backendOrder); // a bad order fails before the bundle is read
        options = capThreads(options, BackendOptions.availableProcessors());
        if (contextLength < 0) {
            throw new IllegalArgumentException("context length must be >= 0 (0 = the model's), got " + contextLength);
        }
        BundleManifest manifest;
        try {
            // Every file's sha256 is checked on open (about a second per 500 MB): a bundle that
            // changed since export is refused, never half-loaded.
            manifest = BundleManifestReader.read(bundleDir, true);
        } catch (IOException e) {
            throw new SkipperException("cannot read the bundle " + bundleDir + ": " + e, e);
        }
        int maxPosition = manifest.model().maxPosition();
        if (contextLength > maxPosition) {
            throw new SkipperException("context length " + contextLength + " exceeds the model's max_position "
                    + maxPosition + " (" + bundleDir + ")");
        }
        int context = contextLength == 0 ? maxPosition : contextLength;
        SpeculationPolicy.check(speculation, manifest);
        if (speculation.adaptiveDepth().enabled()) {
            AdaptiveDepthStep.check(manifest, null);
        }
        ChatTemplate template = ChatTemplate.of(manifest).orElse(null);
        Tokenizer tokenizer = Tokenizers.open(manifest);
        try {
            BackendSelector.Selection backend = BackendSelector.open(backendOrder, providers, manifest, options, LOG);
            return new DefaultEngine(backend.runner(), backend.name(), backend.warning(), tokenizer, template, context,
                    speculation);
        } catch (SkipperException | RuntimeException e) {
            tokenizer.close();
            throw e;
        }
    }

    /**
     * Caps the thread count at the processors this process may use, with one warning.
     *
     * @param options as asked
     * @param processors {@link BackendOptions#availableProcessors()}
     * @return the options to open the backend with
     */
    static BackendOptions capThreads(BackendOptions options, int processors) {
        if (options.intraOpThreads() <= processors) {
            return options;
        }
        LOG.log(java.util.logging.Level.WARNING, "threads=" + options.intraOpThreads() + " is more than the "
                + processors + " processors this process may use; using " + processors
                + " (extra threads only wait for each other)");
        return options.withThreadsAtMost(processors);
    }
}
