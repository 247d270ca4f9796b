package dev.skipper.tensorrt;

import dev.skipper.runtime.profiles.ProfilePlan;
import dev.skipper.runtime.profiles.EngineSpec;
import dev.skipper.runtime.spi.BackendProvider;
import dev.skipper.runtime.spi.DevicePrecision;
import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.bundle.GraphContract;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * One TensorRT engine per graph file of a bundle (embed, every layer, head, kv_fill, exit heads,
 * draft head, the trained feature drafter), each from the engine cache or built into it, with the
 * index of every binding the runner uses.
 *
 * <p>Why one engine per layer and not per span of layers: every drafter cuts the stack at a
 * different place (an exit after any calibrated layer, a FiRST skip set of any layers, kv_fill
 * for any layer), and per-layer engines serve all of them from one set. The price is one enqueue per
 * layer (30 per token for SmolLM2); a decoder layer of a 135M model is ~9 MB of fp32 weights to
 * stream, tens of microseconds on an Orin, so launch overhead matters and spans between the cut
 * points are the optimisation to take once it is measured on a GPU (docs/gpu.md).
 */
public final class EngineSet implements AutoCloseable {

    /** The bindings a runner addresses, by contract name. */
    public enum Binding {
        /** input_ids. */
        INPUT_IDS(GraphContract.INPUT_IDS),
        /** hidden. */
        HIDDEN(GraphContract.HIDDEN),
        /** hidden_out. */
        HIDDEN_OUT(GraphContract.HIDDEN_OUT),
        /** position_ids. */
        POSITION_IDS(GraphContract.POSITION_IDS),
        /** past_key. */
        PAST_KEY(GraphContract.PAST_KEY),
        /** past_value. */
        PAST_VALUE(GraphContract.PAST_VALUE),
        /** key. */
        KEY(GraphContract.KEY),
        /** value. */
        VALUE(GraphContract.VALUE),
        /** logits. */
        LOGITS(GraphContract.LOGITS),
        /** accept_prob. */
        ACCEPT_PROB(GraphContract.ACCEPT_PROB),
        /** feature (the feature drafter's input: the model's last-layer rows). */
        FEATURE(GraphContract.FEATURE),
        /** embedded (the feature drafter's input: the next tokens' embeddings). */
        EMBEDDED(GraphContract.EMBEDDED),
        /** feature_out (the feature drafter's predicted features). */
        FEATURE_OUT(GraphContract.FEATURE_OUT);

        /** The contract's tensor name. */
        public final String tensor;

        Binding(String tensor) {
            this.tensor = tensor;
        }
    }

    /**
     * A graph of the bundle to build.
     *
     * @param name file-name-safe name ({@code layer_3})
     * @param file path in the bundle
     * @param kind its dynamic inputs
     * @param io its contract
     */
    public record Graph(String name, String file, ProfilePlan.GraphKind kind, GraphContract.Io io) {
    }

    /**
     * An engine with its binding indices.
     *
     * @param ordinal its position in {@link #all()}
     * @param graph the graph it runs
     * @param engine the engine
     * @param index {@code [Binding]} tensor index, -1 where the graph has no such tensor
     */
    public record Bound(int ordinal, Graph graph, TrtNative.Engine engine, int[] index) {
        /**
         * @param b a binding
         * @return its tensor index
         */
        public int at(Binding b) {
            int i = index[b.ordinal()];
            if (i < 0) {
                throw new IllegalStateException(graph.name() + " has no " + b.tensor);
            }
            return i;
        }
    }

    private final List<Bound> engines;   // in graphs() order
    private final Bound embed;
    private final Bound[] layers;        // [numLayers]
    private final Bound head;
    private final Bound[] kvFill;        // [numLayers], or null
    private final Bound[] exits;         // [numLayers] exit head after l layers, null where none; or null
    private final Bound draftHead;       // or null
    private final Bound featureDrafter;  // or null

    private EngineSet(List<Bound> engines, int numLayers, boolean kvFill, boolean draft) {
        this.engines = List.copyOf(engines);
        int i = 0;
        this.embed = engines.get(i++);
        this.layers = new Bound[numLayers];
        for (int l = 0; l < numLayers; l++) {
            layers[l] = engines.get(i++);
        }
        this.head = engines.get(i++);
        this.kvFill = kvFill ? new Bound[numLayers] : null;
        if (kvFill) {
            for (int l = 0; l < numLayers; l++) {
                this.kvFill[l] = engines.get(i++);
            }
        }
        Bound[] ex = null;
        Bound dh = null;
        Bound fd = null;
        if (draft) {
            ex = new Bound[numLayers];
            for (; i < engines.size(); i++) {
                Bound b = engines.get(i);
                String name = b.graph().name();
                if (name.startsWith(EXIT)) {
                    ex[Integer.parseInt(name.substring(EXIT.length()))] = b;
                } else if (name.equals(DRAFT_HEAD)) {
                    dh = b;
                } else if (name.equals(FEATURE_DRAFTER)) {
                    fd = b;
                }
            }
        }
        this.exits = ex;
        this.draftHead = dh;
        this.featureDrafter = fd;
    }

    private static final String EXIT = "exit_";
    private static final String DRAFT_HEAD = "draft_head";
    private static final String FEATURE_DRAFTER = "feature_drafter";

    /**
     * The graphs of a bundle in build order.
     *
     * @param manifest the bundle
     * @param withDraftHeads include the exit and draft heads and the feature drafter (when the bundle
     *     has them)
     * @return the graphs
     */
    public static List<Graph> graphs(BundleManifest manifest, boolean withDraftHeads) {
        GraphContract c = GraphContract.of(manifest);
        BundleManifest.GraphsSpec g = manifest.graphs();
        List<Graph> out = new ArrayList<>();
        out.add(new Graph("embed", g.embed().file(), ProfilePlan.GraphKind.EMBED, c.embed()));
        for (int l = 0; l < g.layers().size(); l++) {
            out.add(new Graph("layer_" + l, g.layers().get(l).file(), ProfilePlan.GraphKind.LAYER, c.layer()));
        }
        out.add(new Graph("head", g.head().file(), ProfilePlan.GraphKind.HIDDEN_ONLY, c.head()));
        for (int l = 0; l < g.kvFill().size(); l++) {
            out.add(new Graph("kv_fill_" + l, g.kvFill().get(l).file(), ProfilePlan.GraphKind.KV_FILL, c.kvFill()));
        }
        BundleManifest.DraftHeadsSpec d = manifest.draftHeads();
        if (withDraftHeads && d != null) {
            for (BundleManifest.ExitHeadSpec e : d.exits()) {
                out.add(new Graph(EXIT + e.layer(), e.graph().file(), ProfilePlan.GraphKind.HIDDEN_ONLY, c.exitHead()));
            }
            out.add(new Graph(DRAFT_HEAD, d.head().file(), ProfilePlan.GraphKind.HIDDEN_ONLY, c.draftHead(d.vocabSize())));
            BundleManifest.FeatureDrafterSpec f = manifest.featureDrafter();
            if (f != null) {
                out.add(new Graph(FEATURE_DRAFTER, f.graph().file(), ProfilePlan.GraphKind.FEATURE_DRAFTER,
                        c.featureDrafter(f.vocabSize())));
            }
        }
        return out;
    }

    /**
     * Reads every engine from the cache, building (and caching) the missing ones.
     *
     * @param manifest the bundle (hashes verified)
     * @param nat the native seam
     * @param cache the engine cache
     * @param plan the profiles
     * @param precision engine precision
     * @param workspaceBytes builder workspace limit
     * @param withDraftHeads also the exit and draft heads
     * @param progress called once per graph
     * @return the engines; the caller closes them
     * @throws SkipperException when a graph cannot be built or an engine does not have the contract's bindings
     */
    public static EngineSet open(BundleManifest manifest, TrtNative nat, EngineCache cache, ProfilePlan plan,
                                 DevicePrecision precision, long workspaceBytes, boolean withDraftHeads,
                                 BackendProvider.Progress progress) throws SkipperException {
        List<Graph> graphs = graphs(manifest, withDraftHeads);
        List<Bound> opened = new ArrayList<>(graphs.size());
        TrtNative.TimingCache timing = null;
        try {
            int done = 0;
            for (Graph g : graphs) {
                EngineSpec spec = plan.spec(g.kind(), precision, workspaceBytes);
                String sha = manifest.files().get(g.file());
                if (sha == null) {
                    throw new SkipperException(manifest.directory() + ": " + g.file() + " is not listed in the manifest's files");
                }
                // The graph's external data (embed.bin) is part of what the engine is built from.
                String dataSha = manifest.externalData(g.file()).map(manifest.files()::get).orElse(null);
                String key = cache.key(dataSha == null ? sha : sha + "+" + dataSha, spec);
                byte[] bytes = cache.load(g.name(), key);
                boolean built = false;
                TrtNative.Engine engine = null;
                if (bytes != null) {
                    try {
                        engine = nat.deserialize(bytes);
                    } catch (SkipperException e) {
                        bytes = null; // a valid container TensorRT still refuses (another build of the library): rebuild
                    }
                }
                if (engine == null) {
                    if (timing == null) {
                        timing = new TrtNative.TimingCache(cache.loadTimingCache());
                    }
                    bytes = nat.buildPlan(manifest.resolve(g.file()), spec, timing);
                    cache.store(g.name(), key, bytes);
                    if (timing.bytes != null) {
                        cache.storeTimingCache(timing.bytes);
                    }
                    engine = nat.deserialize(bytes);
                    built = true;
                }
                try {
                    opened.add(bind(opened.size(), g, engine, manifest));
                } catch (SkipperException | RuntimeException e) {
                    engine.close();
                    throw e;
                }
                progress.update(++done, graphs.size(), g.name(), built);
            }
            return new EngineSet(opened, manifest.model().numLayers(), !manifest.graphs().kvFill().isEmpty(),
                    withDraftHeads && manifest.draftHeads() != null);
        } catch (SkipperException | RuntimeException e) {
            closeAll(opened);
            throw e;
        }
    }

    private static Bound bind(int ordinal, Graph g, TrtNative.Engine engine, BundleManifest manifest) throws SkipperException {
        Set<String> expected = new LinkedHashSet<>(g.io().inputNames());
        expected.addAll(g.io().outputNames());
        List<String> names = engine.tensorNames();
        if (!new LinkedHashSet<>(names).equals(expected)) {
            throw new SkipperException(manifest.resolve(g.file()) + ": its engine has tensors " + names + ", expected "
                    + expected);
        }
        int[] index = new int[Binding.values().length];
        for (Binding b : Binding.values()) {
            index[b.ordinal()] = names.indexOf(b.tensor);
        }
        return new Bound(ordinal, g, engine, index);
    }

    /** @return every engine, in build order */
    public List<Bound> all() {
        return engines;
    }

    /** @return the embedding engine */
    public Bound embed() {
        return embed;
    }

    /**
     * @param l layer index
     * @return its engine
     */
    public Bound layer(int l) {
        return layers[l];
    }

    /** @return the head engine */
    public Bound head() {
        return head;
    }

    /**
     * @param l layer index
     * @return its K/V-only engine, or null when the bundle has none
     */
    public Bound kvFill(int l) {
        return kvFill == null ? null : kvFill[l];
    }

    /** @return whether kv_fill engines exist */
    public boolean hasKvFill() {
        return kvFill != null;
    }

    /**
     * @param exitLayer a calibrated exit layer
     * @return its exit head engine
     */
    public Bound exit(int exitLayer) {
        return exits[exitLayer];
    }

    /** @return the draft head engine, or null */
    public Bound draftHead() {
        return draftHead;
    }

    /** @return the trained feature drafter's engine, or null */
    public Bound featureDrafter() {
        return featureDrafter;
    }

    /**
     * @return the scratch one stream's contexts share: the most any engine's context needs in any
     *     profile (at least 1 byte)
     */
    public long scratchBytes() {
        long most = 1;
        for (Bound b : engines) {
            for (int p = 0; p < b.engine().profiles(); p++) {
                most = Math.max(most, b.engine().contextMemoryBytes(p));
            }
        }
        return most;
    }

    /** Closes every engine, last first. */
    @Override
    public void close() {
        closeAll(engines);
    }

    private static void closeAll(List<Bound> engines) {
        for (int i = engines.size() - 1; i >= 0; i--) {
            engines.get(i).engine().close();
        }
    }
}
