package dev.skipper.cli;

import dev.skipper.api.Engine;
import dev.skipper.core.Skipper;
import dev.skipper.core.config.DeploymentConfig;

/** Opens the engine of a resolved deployment; tests substitute a fake. */
@FunctionalInterface
interface EngineOpener {
    /** The real engine: {@link Skipper#open(DeploymentConfig)}. */
    EngineOpener SKIPPER = Skipper::open;

    /**
     * Opens the deployment's bundle.
     *
     * @param config the deployment, command-line flags already applied
     * @return the engine; the caller closes it
     * @throws Exception a {@code SkipperException} (reported as {@code error: message}) or an I/O error
     */
    Engine open(DeploymentConfig config) throws Exception;
}
