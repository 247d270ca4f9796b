package dev.skipper.cli;

import dev.skipper.api.Engine;
import dev.skipper.core.Skipper;
import dev.skipper.core.config.DeploymentConfig;

/** Opens the engine of a resolved deployment; tests substitute a fake. */
@FunctionalInterface
interface EngineOpener {
    /**
     * The real engine: {@link Skipper#open(DeploymentConfig)}, then one full collection. Loading (the
     * tokenizer's and the manifest's parse) leaves the old generation ~22 MB committed around ~12 MB
     * that stays live, and nothing collects it again; with {@code -XX:-ShrinkHeapInSteps}
     * (configs/jvm-memory.options) this collection gives the rest back at once: heap 22 -> 13 MB
     * committed, peak RSS -9 MB at 2,048 tokens (docs/benchmarks.md#memory).
     */
    EngineOpener SKIPPER = config -> {
        Engine e = Skipper.open(config);
        System.gc();
        return e;
    };

    /**
     * Opens the deployment's bundle.
     *
     * @param config the deployment, command-line flags already applied
     * @return the engine; the caller closes it
     * @throws Exception a {@code SkipperException} (reported as {@code error: message}) or an I/O error
     */
    Engine open(DeploymentConfig config) throws Exception;
}
