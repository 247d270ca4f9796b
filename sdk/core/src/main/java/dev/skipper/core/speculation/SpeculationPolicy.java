package dev.skipper.core.speculation;

import dev.skipper.api.SkipperException;
import dev.skipper.api.SpeculationMode;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.core.config.SpeculationConfig;
import dev.skipper.runtime.spi.ModelRunner;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * Which drafters a speculation mode gets on a bundle: the configuration's choices first, else the
 * bundle's calibration ({@code ./skipper calibrate}: exit heads, skip sets, FiRST routers), and in
 * automatic mode only what calibration estimated to pay. Policy only: rounds are run by the
 * session's speculative decoder, which never looks at the mode again.
 */
public final class SpeculationPolicy {
    private SpeculationPolicy() {
    }

    // One corpus index per engine (its runner), shared by its sessions: it is read-only after the
    // build (~50 ms and ~1 MB for SmolLM2's 38,400-token corpus), so per session would only repeat it.
    private static final Map<ModelRunner, CorpusLookupDrafter> CORPORA = new WeakHashMap<>();

    /** The engine's corpus lookup drafter, built on first use. */
    static CorpusLookupDrafter corpus(ModelRunner runner) throws SkipperException {
        synchronized (CORPORA) {
            CorpusLookupDrafter d = CORPORA.get(runner);
            if (d == null) {
                d = CorpusLookupDrafter.load(runner.manifest());
                CORPORA.put(runner, d);
            }
            return d;
        }
    }

    /**
     * The drafters of one mode, in the order a round tries them, with what the round needs to run
     * them.
     *
     * @param drafters the drafters: model-free ones (prompt lookup, then corpus lookup) first
     * @param priors {@code [drafters]} what the adaptive controller knows of each before it runs
     * @param layerDrafter the layer drafter among them, or null
     * @param router FiRST routers that choose the layer drafter's skip set per sequence, or null
     * @param featureDrafter the trained feature drafter among them, or null
     */
    public record Drafters(List<Drafter> drafters, DraftController.Prior[] priors, LayerDrafter layerDrafter,
                           FirstRouter router, FeatureDrafter featureDrafter) implements AutoCloseable {
        /** Copies the list. */
        public Drafters {
            drafters = List.copyOf(drafters);
            priors = priors.clone();
        }

        /** @return what the controller knows of each drafter (a copy) */
        @Override
        public DraftController.Prior[] priors() {
            return priors.clone();
        }

        /** Closes every drafter. */
        @Override
        public void close() {
            drafters.forEach(Drafter::close);
        }
    }

    /**
     * Checks speculation settings against a model before an engine opens.
     *
     * @param config the settings
     * @param manifest the bundle's manifest
     * @throws SkipperException naming the setting that does not fit
     */
    public static void check(SpeculationConfig config, BundleManifest manifest) throws SkipperException {
        try {
            usesFeatureDrafter(config, manifest);
            layerPlan(config, manifest);
        } catch (IllegalArgumentException e) {
            throw new SkipperException("speculation: " + e.getMessage() + " (" + manifest.directory() + ")", e);
        }
    }

    /**
     * Builds the drafters of a mode.
     *
     * @param config the settings (mode not {@code off})
     * @param runner the engine's runner
     * @param maxSeq the sequence's capacity
     * @param chunk most rows the sequence runs in one pass
     * @return the drafters
     * @throws SkipperException if the settings do not fit the model or buffers cannot be allocated
     */
    public static Drafters drafters(SpeculationConfig config, ModelRunner runner, int maxSeq, int chunk)
            throws SkipperException {
        BundleManifest manifest = runner.manifest();
        SpeculationMode mode = config.mode();
        List<Drafter> drafters = new ArrayList<>();
        List<DraftController.Prior> priors = new ArrayList<>();
        LayerDrafter layer = null;
        FirstRouter router = null;
        FeatureDrafter feature = null;
        try {
            if (mode == SpeculationMode.NGRAM || mode == SpeculationMode.AUTO) {
                drafters.add(new PromptLookupDrafter(config.ngramSize(), Math.min(2, config.ngramSize())));
                priors.add(new DraftController.Prior(0.6, false));
            }
            if (mode == SpeculationMode.AUTO && manifest.draftCorpus() != null) {
                // After prompt lookup: a match in this conversation beats one in the model's past answers.
                drafters.add(corpus(runner));
                priors.add(new DraftController.Prior(0.5, false));
            }
            // auto takes it only where the backend runs it; mode feature insists.
            if (usesFeatureDrafter(config, manifest) && (runner.hasFeatureDrafter() || mode == SpeculationMode.FEATURE)) {
                if (!runner.hasFeatureDrafter()) {
                    throw new IllegalArgumentException("this backend does not run the bundle's feature drafter");
                }
                BundleManifest.FeatureDrafterSpec spec = manifest.featureDrafter();
                // Adaptive: drafts are kept while calibration's acceptance pays for them.
                AcceptanceByConfidence calibration = config.adaptive()
                        ? AcceptanceByConfidence.fromThresholdTable(spec.confidence()) : null;
                feature = new FeatureDrafter(runner, maxSeq, chunk, config.confidenceThreshold(), calibration,
                        spec.draftCost());
                drafters.add(feature);
                double[] a = spec.acceptance();
                priors.add(new DraftController.Prior(a.length > 0 ? a[0] : 0.5, feature.limitsItself()));
            }
            LayerPlan plan = mode == SpeculationMode.FEATURE ? null : layerPlan(config, manifest);
            if (plan != null) {
                layer = new LayerDrafter(runner, plan, config.confidenceThreshold(), usesExitHead(config, manifest, plan));
                drafters.add(layer);
                priors.add(new DraftController.Prior(0.5, false));
                if (usesFirstRouter(config, manifest, plan)) {
                    router = FirstRouter.load(manifest);
                }
            }
        } catch (IllegalArgumentException e) {
            drafters.forEach(Drafter::close);
            throw new SkipperException("speculation: " + e.getMessage(), e);
        } catch (SkipperException | RuntimeException e) {
            drafters.forEach(Drafter::close);
            throw e;
        }
        if (drafters.isEmpty()) {
            throw new SkipperException("speculation mode " + mode.yamlName() + " has no drafter for this model");
        }
        return new Drafters(drafters, priors.toArray(DraftController.Prior[]::new), layer, router, feature);
    }

    /**
     * Whether a mode drafts with the trained feature drafter: mode feature (which needs one), or
     * auto when the bundle has one that calibration estimated to pay.
     *
     * @throws IllegalArgumentException for mode feature on a bundle without one
     */
    static boolean usesFeatureDrafter(SpeculationConfig config, BundleManifest manifest) {
        BundleManifest.FeatureDrafterSpec spec = manifest.featureDrafter();
        return switch (config.mode()) {
            case FEATURE -> {
                if (spec == null) {
                    throw new IllegalArgumentException("mode feature needs a bundle calibrated with ./skipper calibrate "
                            + "(the manifest has no feature_drafter)");
                }
                yield true;
            }
            case AUTO -> spec != null && CalibrationPolicy.pays(spec);
            default -> false;
        };
    }

    /**
     * The layer drafter's plan, or null when the mode has none: the configuration's skip set or
     * exit layer first, else the bundle's calibration; automatic mode takes a calibrated exit head,
     * else a calibrated skip set, only when calibration estimated that it pays.
     *
     * @param config the settings
     * @param manifest the bundle
     * @return the plan, or null
     * @throws IllegalArgumentException when the mode needs something the bundle does not have
     */
    static LayerPlan layerPlan(SpeculationConfig config, BundleManifest manifest) {
        int numLayers = manifest.model().numLayers();
        BundleManifest.SpeculationSpec calibrated = manifest.speculation();
        BundleManifest.DraftHeadsSpec heads = manifest.draftHeads();
        boolean hasCalibrated = calibrated != null && !calibrated.skipLayers().isEmpty();
        return switch (config.mode()) {
            case EARLY_EXIT -> LayerPlan.earlyExit(numLayers, config.exitLayer() != null ? config.exitLayer()
                    : heads != null ? heads.defaultExit() : Math.max(1, numLayers / 2));
            case EXIT_HEAD -> {
                if (heads == null) {
                    throw new IllegalArgumentException("mode exit-head needs a bundle calibrated with "
                            + "./skipper calibrate (the manifest has no draft_heads)");
                }
                int exit = config.exitLayer() != null ? config.exitLayer() : heads.defaultExit();
                if (heads.exit(exit).isEmpty()) {
                    throw new IllegalArgumentException("exit_layer " + exit + " has no calibrated exit head; the bundle has "
                            + heads.exits().stream().map(e -> String.valueOf(e.layer())).toList());
                }
                yield LayerPlan.earlyExit(numLayers, exit);
            }
            case LAYER_SKIP -> {
                if (config.skipLayers() != null) {
                    yield LayerPlan.skipping(numLayers, config.skipLayers());
                }
                if (hasCalibrated) { // FiRST routers, when present, replace it per sequence (begin)
                    yield LayerPlan.skipping(numLayers, calibrated.skipLayers());
                }
                if (manifest.firstRouters() != null) {
                    yield LayerPlan.skipping(numLayers, List.of(numLayers / 2)); // until the first prefill
                }
                throw new IllegalArgumentException("mode layer-skip needs speculation.skip_layers, or a bundle "
                        + "calibrated with ./skipper calibrate");
            }
            case AUTO -> config.skipLayers() != null ? LayerPlan.skipping(numLayers, config.skipLayers())
                    : config.exitLayer() != null ? LayerPlan.earlyExit(numLayers, config.exitLayer())
                    : heads != null && heads.defaultHead().estimatedSpeedup() > 1.0
                            ? LayerPlan.earlyExit(numLayers, heads.defaultExit())
                    : hasCalibrated && CalibrationPolicy.pays(calibrated) ? LayerPlan.skipping(numLayers, calibrated.skipLayers())
                    : null;
            default -> null;
        };
    }

    /** Exit-head mode, or automatic mode on an early-exit plan whose layer has a calibrated head. */
    private static boolean usesExitHead(SpeculationConfig config, BundleManifest manifest, LayerPlan plan) {
        BundleManifest.DraftHeadsSpec heads = manifest.draftHeads();
        boolean earlyExit = plan.layersRun() == plan.exactLayers();
        return switch (config.mode()) {
            case EXIT_HEAD -> true;
            case AUTO -> earlyExit && heads != null && heads.exit(plan.exactLayers()).isPresent();
            default -> false;
        };
    }

    /**
     * Layer-skip drafting from the bundle's calibration (no configured set) with FiRST routers in
     * it: mode layer-skip, or auto when it picked the calibrated skip set. Decided from the
     * settings, not the plan's shape (a skip set of the last layers looks like an early exit).
     */
    private static boolean usesFirstRouter(SpeculationConfig config, BundleManifest manifest, LayerPlan plan) {
        if (manifest.firstRouters() == null || config.skipLayers() != null) {
            return false;
        }
        BundleManifest.SpeculationSpec calibrated = manifest.speculation();
        return switch (config.mode()) {
            case LAYER_SKIP -> true;
            case AUTO -> config.exitLayer() == null && calibrated != null && CalibrationPolicy.pays(calibrated)
                    && plan.skipped().equals(calibrated.skipLayers());
            default -> false;
        };
    }
}
