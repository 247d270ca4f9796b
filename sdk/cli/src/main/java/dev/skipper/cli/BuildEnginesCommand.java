package dev.skipper.cli;

import dev.skipper.core.Backends;
import dev.skipper.core.config.DeploymentConfig;
import dev.skipper.core.config.DeploymentConfigLoader;
import dev.skipper.core.config.Overrides;
import dev.skipper.runtime.spi.BackendProvider;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code build-engines}: every TensorRT engine of a bundle, built once into the engine cache. */
@Command(name = "build-engines", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {
            "Build the TensorRT engines of a bundle (standard flavour) for this machine's GPU and keep them in the "
                    + "engine cache, so that the first run does not wait for them (minutes on a Jetson). Engines "
                    + "already in the cache with the same key (TensorRT version, GPU and compute capability, graph "
                    + "sha256, precision, profiles) are kept; a corrupt one is rebuilt.",
            "The cache: the deployment's gpu.engine_cache, else $SKIPPER_ENGINE_CACHE, else <bundle>/engines "
                    + "(docs/gpu.md)."},
        footer = {"", "Exit status: 0 built (or already there); 2 usage error, no usable GPU, or a failed build "
                + "(one 'error: ...' line on stderr)."})
final class BuildEnginesCommand implements Callable<Integer> {
    private final CliContext ctx;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", arity = "0..1", paramLabel = "BUNDLE",
            description = "The bundle directory (or give --config).")
    Path bundle;

    @Option(names = "--bundle", paramLabel = "DIR", order = 0, description = "The bundle directory, as BUNDLE.")
    Path bundleOption;

    @Option(names = "--config", paramLabel = "FILE", order = 1,
            description = "Deployment file: its bundle and gpu: section (BUNDLE, --device and --precision override them).")
    Path config;

    @Mixin
    DeviceFlags device = new DeviceFlags();

    @Option(names = "--json", order = 30, description = "Print the result as one JSON object on stdout.")
    boolean json;

    // Which backend prepares: tensorrt; tests name a stand-in of its native calls.
    @Option(names = "--backend", paramLabel = "NAME", hidden = true, defaultValue = "tensorrt")
    String backend;

    BuildEnginesCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
        if (bundle != null && bundleOption != null) {
            throw new ParameterException(spec.commandLine(), "give the bundle once: BUNDLE or --bundle DIR");
        }
        DeploymentConfig cfg = resolve(spec, config, bundle != null ? bundle : bundleOption, device, null);
        ProgressLine bar = ProgressLine.forCommand(ctx.err(), "build-engines");
        long t0 = System.nanoTime();
        BackendProvider.Preparation p;
        try {
            p = Backends.prepare(cfg, backend, (done, total, item, built) ->
                    bar.update(done, total, item, built ? "built" : "cached"));
        } finally {
            bar.finish();
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        if (json) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("bundle", cfg.bundle().toString());
            doc.put("backend", backend);
            doc.put("device", cfg.gpu().device());
            doc.put("precision", cfg.gpu().precision().yamlName());
            doc.put("engines", p.items());
            doc.put("built", p.built());
            doc.put("cached", p.items() - p.built());
            doc.put("directory", p.directory() == null ? null : p.directory().toString());
            doc.put("seconds", seconds);
            ctx.out().println(Json.compact(doc));
        } else {
            ctx.out().println(String.format(Locale.ROOT, "build-engines: %d engines (%d built, %d already cached) in %s, "
                    + "%.1f s", p.items(), p.built(), p.items() - p.built(), p.directory(), seconds));
        }
        return 0;
    }

    /**
     * The deployment of build-engines and gpu-check: a file, a bundle, or both (the bundle replaces
     * the file's), with the device flags on top.
     */
    static DeploymentConfig resolve(CommandSpec spec, Path config, Path bundle, DeviceFlags device,
                                    dev.skipper.runtime.spi.DevicePrecision defaultPrecision) throws Exception {
        if (config == null && bundle == null) {
            throw new ParameterException(spec.commandLine(), "give a bundle directory or --config FILE");
        }
        Path dir = bundle == null ? null : bundle.toAbsolutePath().normalize();
        DeploymentConfig base = config != null ? DeploymentConfigLoader.load(config) : DeploymentConfig.defaults(dir);
        Overrides.Builder b = Overrides.builder().bundle(dir);
        device.addTo(spec, b, defaultPrecision);
        try {
            return base.withOverrides(b.build());
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), Deployments.flagMessage(e.getMessage()));
        }
    }
}
