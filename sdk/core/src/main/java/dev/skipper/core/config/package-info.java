/**
 * Deployment files: YAML that names a bundle, its backends and generation defaults, read safely
 * into records ({@link dev.skipper.core.config.DeploymentConfigLoader}), plus the overrides the CLI
 * and requests apply on top ({@link dev.skipper.core.config.Overrides}).
 */
package dev.skipper.core.config;
