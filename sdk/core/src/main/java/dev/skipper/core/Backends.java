package dev.skipper.core;

import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.bundle.BundleManifestReader;
import dev.skipper.core.config.DeploymentConfig;
import dev.skipper.runtime.spi.BackendOptions;
import dev.skipper.runtime.spi.BackendProvider;
import java.io.IOException;
import java.util.Iterator;
import java.util.Locale;
import java.util.Objects;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;

/**
 * One backend by name, outside of opening an engine: whether it is installed and can run here
 * ({@code gpu-check}), and ahead-of-time preparation of a bundle for it ({@code build-engines}: an
 * installer or a device's first boot builds the TensorRT engines once, so that the first
 * {@link Skipper#open} does not take minutes).
 */
public final class Backends {
    private Backends() {
    }

    /**
     * What a backend can do on this machine.
     *
     * @param name the backend's name
     * @param installed whether its module is on the class path
     * @param unavailableReason why it cannot run here (one line), or {@code null} when it can
     * @param device one line about its device (GPU name, memory, library versions), or {@code null}
     */
    public record Status(String name, boolean installed, String unavailableReason, String device) {
        /** @return whether the backend is installed and can run here */
        public boolean usable() {
            return installed && unavailableReason == null;
        }
    }

    /**
     * Checks one backend (never throws for a missing driver or library: that is the answer).
     *
     * @param name e.g. {@code tensorrt}
     * @param options which device
     * @return its status
     */
    public static Status status(String name, BackendOptions options) {
        return status(name, options, ServiceLoader.load(BackendProvider.class));
    }

    static Status status(String name, BackendOptions options, Iterable<BackendProvider> providers) {
        BackendProvider p = find(name, providers);
        if (p == null) {
            return new Status(name, false, "no '" + name + "' backend is on the class path (its module is not installed)",
                    null);
        }
        String reason;
        try {
            reason = p.unavailableReason(options);
        } catch (RuntimeException | LinkageError e) {
            reason = "cannot check availability: " + e;
        }
        String device = null;
        if (reason == null) {
            try {
                device = p.describeDevice(options);
            } catch (RuntimeException | LinkageError e) {
                device = "cannot be described: " + e;
            }
        }
        return new Status(name, true, reason, device);
    }

    /**
     * Prepares the deployment's bundle for one backend (verifying every file's hash first).
     *
     * @param config the deployment: bundle and backend settings (device, precision, engine cache)
     * @param name the backend
     * @param progress told after each item
     * @return what was prepared
     * @throws SkipperException when the bundle is invalid, the backend is missing or cannot run here
     *     (the message says why in one line), or preparation fails
     */
    public static BackendProvider.Preparation prepare(DeploymentConfig config, String name,
                                                      BackendProvider.Progress progress) throws SkipperException {
        return prepare(config, name, progress, ServiceLoader.load(BackendProvider.class));
    }

    static BackendProvider.Preparation prepare(DeploymentConfig config, String name, BackendProvider.Progress progress,
                                               Iterable<BackendProvider> providers) throws SkipperException {
        Objects.requireNonNull(progress, "progress");
        BackendOptions options = config.backendOptions();
        Status status = status(name, options, providers);
        if (!status.usable()) {
            throw new SkipperException("backend " + name + " cannot run here: " + status.unavailableReason());
        }
        BundleManifest manifest;
        try {
            manifest = BundleManifestReader.read(config.bundle(), true);
        } catch (IOException e) {
            throw new SkipperException("cannot read the bundle " + config.bundle() + ": " + e, e);
        }
        return find(name, providers).prepare(config.bundle(), manifest, options, progress);
    }

    private static BackendProvider find(String name, Iterable<BackendProvider> providers) {
        String wanted = name.trim().toLowerCase(Locale.ROOT);
        Iterator<BackendProvider> it = providers.iterator();
        for (int errors = 0; errors < 16; ) {
            try {
                if (!it.hasNext()) {
                    return null;
                }
                BackendProvider p = it.next();
                if (p.name().toLowerCase(Locale.ROOT).equals(wanted)) {
                    return p;
                }
            } catch (ServiceConfigurationError | LinkageError e) {
                errors++; // one provider that fails to load must not hide the others
            }
        }
        return null;
    }
}
