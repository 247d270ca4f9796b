package dev.skipper.core;

import dev.skipper.api.SamplingOptions;
import dev.skipper.api.SkipperException;
import dev.skipper.api.SpeculationMode;
import dev.skipper.api.SpeculationStats;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.core.config.SpeculationConfig;
import dev.skipper.core.sampling.RecentTokens;
import dev.skipper.core.sampling.Sampler;
import dev.skipper.core.speculation.DraftBatch;
import dev.skipper.core.speculation.DraftController;
import dev.skipper.core.speculation.Drafter;
import dev.skipper.core.speculation.FirstRouter;
import dev.skipper.core.speculation.LayerDrafter;
import dev.skipper.core.speculation.LayerPlan;
import dev.skipper.core.speculation.PromptLookupDrafter;
import dev.skipper.core.speculation.Verifier;
import java.util.ArrayList;
import java.util.List;

/**
 * One session's speculative decoding: produces the next tokens of a {@link Sequence} with
 * draft-then-verify rounds, or a plain step when drafting does not pay. The round (see
 * {@code docs/architecture.md}):
 * <pre>
 *   PENDING x (cached = P)
 *     -> choose drafter + k      (DraftController; prompt lookup first when it matches)
 *     -> DRAFT d1..dk            (Drafter: may append rows to the cache)
 *     -> VERIFY [x, d1..dk]      (Verifier: one batched pass over the layers not run exactly)
 *     -> ACCEPT a drafts + 1 token, truncate every layer to P + 1 + a
 *     -> PENDING t(a+1) (cached = P + 1 + a)
 * </pre>
 * Not thread-safe: one per session.
 */
final class SpeculativeDecoder implements AutoCloseable {
    private final Sequence seq;
    private final Sampler sampler;
    private final int numLayers;
    private final SpeculationMode mode;
    private final List<Drafter> drafters;   // in policy order: prompt lookup first when present
    private final boolean[] freeDrafter;    // [drafters] drafts without the model (tried first, skipped when empty)
    private final DraftController controller;
    private final DraftBatch batch;
    private final Verifier verifier;
    private final LayerDrafter layerDrafter; // the layer drafter, or null
    private final FirstRouter first;         // per-sequence skip sets for layerDrafter, or null

    // Per-request stats.
    private long rounds;
    private long drafted;
    private long accepted;
    private long plainSteps;
    private long layerRuns;
    private long draftNanos;
    private long verifyNanos;

    /**
     * @param seq the session's sequence
     * @param sampler the session's sampler
     * @param config the speculation settings (mode not {@code off})
     * @param withQ allocate draft distributions (needed when a request samples)
     * @throws SkipperException if the settings do not fit the model or buffers cannot be allocated
     */
    SpeculativeDecoder(Sequence seq, Sampler sampler, SpeculationConfig config, boolean withQ)
            throws SkipperException {
        this.seq = seq;
        this.sampler = sampler;
        this.numLayers = seq.runner().manifest().model().numLayers();
        this.mode = config.mode();
        this.drafters = new ArrayList<>();
        List<Double> priors = new ArrayList<>();
        LayerDrafter layer = null;
        FirstRouter router = null;
        try {
            if (mode == SpeculationMode.NGRAM || mode == SpeculationMode.AUTO) {
                drafters.add(new PromptLookupDrafter(config.ngramSize(), Math.min(2, config.ngramSize())));
                priors.add(0.6);
            }
            LayerPlan plan = plan(config, seq.runner().manifest());
            if (plan != null) {
                boolean head = usesExitHead(config, seq.runner().manifest(), plan);
                layer = new LayerDrafter(seq.runner(), plan, config.confidenceThreshold(), head);
                drafters.add(layer);
                priors.add(0.5);
                if (usesFirstRouter(config, seq.runner().manifest(), plan)) {
                    router = FirstRouter.load(seq.runner().manifest());
                }
            }
        } catch (IllegalArgumentException e) {
            throw new SkipperException("speculation: " + e.getMessage(), e);
        }
        if (drafters.isEmpty()) {
            throw new SkipperException("speculation mode " + mode.yamlName() + " has no drafter for this model");
        }
        this.layerDrafter = layer;
        this.first = router;
        this.freeDrafter = new boolean[drafters.size()];
        double[] prior = new double[drafters.size()];
        for (int i = 0; i < drafters.size(); i++) {
            freeDrafter[i] = drafters.get(i) instanceof PromptLookupDrafter;
            prior[i] = priors.get(i);
        }
        int maxDraft = Math.min(config.maxDraftTokens(), seq.chunk() - 1);
        this.controller = new DraftController(Math.max(1, maxDraft), drafters.size(), prior, config.adaptive());
        this.batch = new DraftBatch(seq.runner(), Math.max(1, maxDraft), withQ);
        this.verifier = new Verifier(seq.runner(), Math.max(1, maxDraft));
    }

    /**
     * Checks speculation settings against a model before an engine opens.
     *
     * @param config the settings
     * @param manifest the bundle's manifest
     * @throws SkipperException naming the setting that does not fit
     */
    static void check(SpeculationConfig config, BundleManifest manifest) throws SkipperException {
        try {
            plan(config, manifest);
        } catch (IllegalArgumentException e) {
            throw new SkipperException("speculation: " + e.getMessage() + " (" + manifest.directory() + ")", e);
        }
    }

    /**
     * The layer drafter's plan, or null when the mode has none: the configuration's skip set or
     * exit layer first, else the bundle's calibration ({@code skipper calibrate}); automatic mode
     * takes a calibrated exit head, else a calibrated skip set, only when calibration estimated
     * that it pays.
     */
    private static LayerPlan plan(SpeculationConfig config, BundleManifest manifest) {
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
                    : hasCalibrated && calibrated.pays() ? LayerPlan.skipping(numLayers, calibrated.skipLayers())
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
            case AUTO -> config.exitLayer() == null && calibrated != null && calibrated.pays()
                    && plan.skipped().equals(calibrated.skipLayers());
            default -> false;
        };
    }

    /**
     * The hook that pools the prompt's layer inputs for the FiRST router, or null when this
     * decoder does not route per sequence. Set it on the sequence for the prefill.
     *
     * @return the hook, or null
     */
    Sequence.LayerInputs promptObserver() {
        if (first == null) {
            return null;
        }
        first.reset();
        return first::observe;
    }

    /** @return the current layer drafter's skip set or exit plan, or null (for tests and logs) */
    LayerPlan layerPlan() {
        return layerDrafter == null ? null : layerDrafter.plan();
    }

    /** @return the mode this decoder implements */
    SpeculationMode mode() {
        return mode;
    }

    /**
     * Starts a request (after its prefill): clears the per-request stats and, with FiRST routers,
     * sets this sequence's draft skip set from the pooled prompt.
     */
    void begin() {
        if (first != null && first.ready()) {
            layerDrafter.setPlan(LayerPlan.skipping(numLayers, first.choose()));
            first.reset();
        }
        rounds = 0;
        drafted = 0;
        accepted = 0;
        plainSteps = 0;
        layerRuns = 0;
        draftNanos = 0;
        verifyNanos = 0;
    }

    /** Forgets the session's switch-off decision (the session was reset). */
    void reset() {
        controller.reset();
    }

    /**
     * Produces the next tokens: the pending token is run (alone or as the head of a verification
     * batch) and the tokens that follow are appended to the sequence, the last one pending.
     *
     * @param sampling the request's sampling
     * @param budget most tokens to produce, &gt;= 1
     * @param out receives the produced tokens
     * @return tokens produced, 1 .. budget
     * @throws SkipperException on a backend failure (the sequence then holds only the pending token's
     *     predecessors in its cache)
     */
    int step(SamplingOptions sampling, int budget, int[] out) throws SkipperException {
        int past = seq.cached();
        int length = seq.length();
        if (past != length - 1) {
            throw new IllegalStateException("a step needs exactly one pending token");
        }
        int room = seq.contextLength() - past; // rows the cache can still take
        int maxProduce = Math.min(budget, room);
        if (!controller.wantsPlainStep() && maxProduce >= 2) {
            int[] tokens = seq.tokenArray();
            RecentTokens recent = seq.recent();
            for (int d = 0; d < drafters.size(); d++) {
                int k = controller.draftLength(d, maxProduce);
                if (k == 0) {
                    continue;
                }
                long t0 = System.nanoTime();
                batch.clear();
                drafters.get(d).draft(tokens, length, k, seq.cache(), sampling, sampler, recent, batch);
                long t1 = System.nanoTime();
                if (batch.count == 0) {
                    seq.cache().truncate(past); // a drafter that found nothing may still have run layers
                    if (freeDrafter[d]) {
                        continue; // no prompt-lookup match: try the next drafter
                    }
                    draftNanos += t1 - t0;
                    break;
                }
                int recentKeep = recent.length();
                int a = verifier.verify(tokens[length - 1], past, batch, seq.cache(), sampling, sampler, recent, out);
                long t2 = System.nanoTime();
                recent.truncate(recentKeep);
                for (int i = 0; i <= a; i++) {
                    seq.append(out[i]);
                }
                seq.setCached(past + 1 + a);
                controller.observeRound(d, batch.count, a, t1 - t0, t2 - t1);
                rounds++;
                drafted += batch.count;
                accepted += a;
                layerRuns += batch.layerRuns + verifier.layerRuns();
                draftNanos += t1 - t0;
                verifyNanos += t2 - t1;
                return a + 1;
            }
        }
        long t0 = System.nanoTime();
        seq.run(null);
        int token = sampler.next(seq.logits(), 0, sampling, seq.recent());
        seq.append(token);
        controller.observePlain(System.nanoTime() - t0);
        plainSteps++;
        layerRuns += numLayers;
        out[0] = token;
        return 1;
    }

    /**
     * The request's stats.
     *
     * @param generated tokens the request produced (for layers per token)
     * @return the stats
     */
    SpeculationStats stats(int generated) {
        return new SpeculationStats(rounds, drafted, accepted, plainSteps,
                generated == 0 ? 0 : (double) layerRuns / Math.max(1, generated - 1), draftNanos / 1e6,
                verifyNanos / 1e6, controller.isOff());
    }

    /** @return most tokens one {@link #step} can produce */
    int maxTokensPerStep() {
        return batch.capacity + 1;
    }

    @Override
    public void close() {
        batch.close();
    }
}
