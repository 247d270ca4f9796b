package dev.skipper.core;

import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.runtime.spi.BackendOptions;
import dev.skipper.runtime.spi.BackendProvider;
import dev.skipper.runtime.spi.ModelRunner;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.ServiceConfigurationError;
import java.util.Set;
import java.util.StringJoiner;

/**
 * Picks the backend that runs a bundle: tries the requested backends in order and uses the first
 * that is on the class path, says it can run here, and opens the bundle.
 *
 * <p>{@value #AUTO} stands for {@link #AUTO_ORDER}: the GPU backends first, then the CPU. When an
 * earlier backend that was asked for by name is skipped, one warning names each skipped backend with
 * its reason; backends that {@code auto} tries are skipped quietly (logged at debug level) when they
 * are not installed or cannot run here (a CPU-only machine is not a problem), but a GPU backend that
 * could run and then failed to open the bundle is in the warning. When none works, the
 * {@link SkipperException} names every reason.
 */
final class BackendSelector {
    /** The backend name that lets the runtime choose. */
    static final String AUTO = "auto";
    /** What {@value #AUTO} tries, in order: TensorRT, ONNX Runtime's CUDA provider, the CPU. */
    static final List<String> AUTO_ORDER = List.of("tensorrt", "cuda", "cpu");

    private BackendSelector() {
    }

    /**
     * The backend chosen and how it came to be.
     *
     * @param name the backend's name
     * @param runner its runner over the bundle
     * @param warning the fallback warning (already logged), or {@code null} when the first choice ran
     */
    record Selection(String name, ModelRunner runner, String warning) {
    }

    /**
     * Opens the bundle on the first backend that works.
     *
     * @param order backend names in preference order ({@code auto}, {@code cpu}, {@code cuda},
     *     {@code tensorrt}, ...; case-insensitive)
     * @param providers the backends on the class path
     * @param manifest the bundle's validated manifest
     * @param options backend settings
     * @param log where the fallback warning goes
     * @return the selection
     * @throws SkipperException if no backend works; the message names each backend's reason
     */
    static Selection open(List<String> order, Iterable<BackendProvider> providers, BundleManifest manifest,
                          BackendOptions options, java.util.logging.Logger log) throws SkipperException {
        List<String> names = expand(order);
        Set<String> quiet = quietlySkipped(order);
        Map<String, BackendProvider> found = new LinkedHashMap<>();
        List<String> loadErrors = new ArrayList<>();
        load(providers, found, loadErrors);

        Map<String, String> skipped = new LinkedHashMap<>(); // name -> reason, all of them
        Map<String, String> warned = new LinkedHashMap<>(); // the ones the warning names
        Path dir = manifest.directory();
        for (String name : names) {
            BackendProvider provider = found.get(name);
            String reason;
            boolean failedToOpen = false;
            if (provider == null) {
                reason = "no '" + name + "' backend is on the class path (its module is not installed)"
                        + (loadErrors.isEmpty() ? "" : "; providers that failed to load: " + String.join("; ", loadErrors));
            } else {
                reason = unavailable(provider, options);
                if (reason == null) {
                    try {
                        ModelRunner runner = provider.open(dir, manifest, options);
                        String warning = warned.isEmpty() ? null : warning(warned, name);
                        if (warning != null) {
                            log.log(java.util.logging.Level.WARNING, warning);
                        }
                        return new Selection(name, runner, warning);
                    } catch (SkipperException | RuntimeException | LinkageError e) {
                        reason = "cannot open the bundle: " + e.getMessage();
                        failedToOpen = true;
                    }
                }
            }
            skipped.put(name, SkipperException.oneLine(reason));
            if (failedToOpen || !quiet.contains(name)) {
                warned.put(name, SkipperException.oneLine(reason));
            } else {
                log.log(java.util.logging.Level.FINE, "backend auto: skipping " + name + " (" + SkipperException.oneLine(reason) + ")");
            }
        }
        StringJoiner why = new StringJoiner("; ");
        skipped.forEach((name, reason) -> why.add(name + ": " + reason));
        throw new SkipperException("no backend can run " + dir + " (tried " + String.join(", ", names) + "): " + why);
    }

    /** Lower-cases, expands {@code auto} and drops repeats. */
    static List<String> expand(List<String> order) {
        if (order.isEmpty()) {
            throw new IllegalArgumentException("backend order must name at least one backend");
        }
        Set<String> names = new LinkedHashSet<>();
        for (String raw : order) {
            String name = raw.trim().toLowerCase(Locale.ROOT);
            if (name.equals(AUTO)) {
                names.addAll(AUTO_ORDER);
            } else if (name.isEmpty()) {
                throw new IllegalArgumentException("backend names must not be empty");
            } else {
                names.add(name);
            }
        }
        return List.copyOf(names);
    }

    /** The backends only {@code auto} asks for: the ones not also named on their own. */
    private static Set<String> quietlySkipped(List<String> order) {
        Set<String> named = new LinkedHashSet<>();
        boolean auto = false;
        for (String raw : order) {
            String name = raw.trim().toLowerCase(Locale.ROOT);
            if (name.equals(AUTO)) {
                auto = true;
            } else {
                named.add(name);
            }
        }
        if (!auto) {
            return Set.of();
        }
        Set<String> quiet = new LinkedHashSet<>(AUTO_ORDER);
        quiet.removeAll(named);
        return quiet;
    }

    /** Instantiates the providers one by one, so that one that fails to load does not hide the others. */
    private static void load(Iterable<BackendProvider> providers, Map<String, BackendProvider> found,
                             List<String> errors) {
        Iterator<BackendProvider> it = providers.iterator();
        while (true) {
            try {
                if (!it.hasNext()) {
                    return;
                }
                BackendProvider p = it.next();
                found.putIfAbsent(p.name().toLowerCase(Locale.ROOT), p);
            } catch (ServiceConfigurationError | LinkageError e) {
                errors.add(SkipperException.oneLine(String.valueOf(e.getMessage())));
                if (errors.size() > 16) {
                    return; // a broken iterator could fail forever
                }
            }
        }
    }

    private static String unavailable(BackendProvider provider, BackendOptions options) {
        try {
            return provider.unavailableReason(options);
        } catch (RuntimeException | LinkageError e) {
            return "cannot check availability: " + e;
        }
    }

    private static String warning(Map<String, String> skipped, String chosen) {
        StringJoiner list = new StringJoiner("; ");
        skipped.forEach((name, reason) -> list.add(name + " (" + reason + ")"));
        return (skipped.size() == 1 ? "backend " : "backends ") + list + (skipped.size() == 1 ? " is" : " are")
                + " not usable; falling back to " + chosen;
    }
}
