package dev.skipper.bundle;

import dev.skipper.bundle.BundleManifest.DType;
import dev.skipper.bundle.BundleManifest.Dim;
import dev.skipper.bundle.BundleManifest.KvLayout;
import dev.skipper.bundle.BundleManifest.ModelDims;
import dev.skipper.bundle.BundleManifest.TensorSpec;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * The inputs and outputs every graph of a bundle must have, as {@code docs/bundle-format.md} ("The
 * graphs") defines them: written once here and used by the manifest reader (the manifest's lists
 * must match) and by every backend (a loaded graph or built engine must have these bindings). The
 * exporter's {@code graphs/contract.py} writes its own lists into every manifest, so each exported
 * bundle the tests open compares the two, and each graph a backend loads is compared with both.
 *
 * <p>Dimensions: {@code seq} new tokens, {@code past} cached tokens, {@code max_seq} the cache
 * capacity, {@code rope_positions} rows of the shared cos/sin tables.
 */
public final class GraphContract {
    /** Token ids {@code [1, seq]} int64 (embed). */
    public static final String INPUT_IDS = "input_ids";
    /** Hidden states {@code [1, seq, hidden]}: the input of every layer and head. */
    public static final String HIDDEN = "hidden";
    /** Hidden states after a layer or exit adapter. */
    public static final String HIDDEN_OUT = "hidden_out";
    /** Positions {@code [1, seq]} int64 (sequence_major layers). */
    public static final String POSITION_IDS = "position_ids";
    /** Cached keys: {@code [1, past, kv_heads, head_dim]} or the whole head-major buffer. */
    public static final String PAST_KEY = "past_key";
    /** Cached values, like {@link #PAST_KEY}. */
    public static final String PAST_VALUE = "past_value";
    /** Valid cached tokens minus one, {@code [1]} int32 (head_major_shared, GroupQueryAttention). */
    public static final String SEQLENS_K = "seqlens_k";
    /** Cached + new tokens, scalar int32 (head_major_shared). */
    public static final String TOTAL_SEQUENCE_LENGTH = "total_sequence_length";
    /** Cosine table {@code [rope_positions, head_dim / 2]} (head_major_shared). */
    public static final String COS_CACHE = "cos_cache";
    /** Sine table, like {@link #COS_CACHE}. */
    public static final String SIN_CACHE = "sin_cache";
    /** The whole head-major key buffer after the call, written in place (head_major_shared). */
    public static final String PRESENT_KEY = "present_key";
    /** The whole head-major value buffer, like {@link #PRESENT_KEY}. */
    public static final String PRESENT_VALUE = "present_value";
    /** New keys {@code [1, seq, kv_heads, head_dim]}, already rotated (sequence_major). */
    public static final String KEY = "key";
    /** New values, like {@link #KEY}. */
    public static final String VALUE = "value";
    /** Logits {@code [1, seq, vocab]} float32 (head; draft head over the draft vocabulary). */
    public static final String LOGITS = "logits";
    /** Router probability {@code [1, seq]} float32 that the exit's top-1 is the full model's. */
    public static final String ACCEPT_PROB = "accept_prob";
    /** Feature drafter input: the target's last-layer output at the previous position. */
    public static final String FEATURE = "feature";
    /** Feature drafter input: the current token's embedding. */
    public static final String EMBEDDED = "embedded";
    /** Feature drafter output: the predicted last-layer output. */
    public static final String FEATURE_OUT = "feature_out";

    /**
     * One graph's inputs and outputs, in the format's order.
     *
     * @param inputs inputs
     * @param outputs outputs
     */
    public record Io(List<TensorSpec> inputs, List<TensorSpec> outputs) {
        /** Copies the lists. */
        public Io {
            inputs = List.copyOf(inputs);
            outputs = List.copyOf(outputs);
        }

        /** @return input names in order */
        public Set<String> inputNames() {
            return names(inputs);
        }

        /** @return output names in order */
        public Set<String> outputNames() {
            return names(outputs);
        }

        private static Set<String> names(List<TensorSpec> tensors) {
            Set<String> names = new LinkedHashSet<>();
            tensors.forEach(t -> names.add(t.name()));
            return names;
        }
    }

    /**
     * How a list of tensors differs from the contract.
     *
     * @param index the offending entry of the actual list, or -1 when a tensor is missing
     * @param problem what is wrong, one line
     */
    public record Mismatch(int index, String problem) {
    }

    private final Io embed;
    private final Io layer;
    private final Io head;
    private final Io kvFill;
    private final Io exitHead;
    private final ModelDims model;

    private GraphContract(ModelDims m, DType act, DType kv, KvLayout layout) {
        this.model = m;
        Dim one = Dim.of(1);
        Dim seq = Dim.of("seq");
        List<Dim> hidden = List.of(one, seq, Dim.of(m.hiddenSize()));
        List<Dim> ids = List.of(one, seq);
        embed = new Io(List.of(new TensorSpec(INPUT_IDS, DType.INT64, ids)), List.of(new TensorSpec(HIDDEN, act, hidden)));
        List<TensorSpec> layerInputs;
        List<TensorSpec> layerOutputs;
        if (layout == KvLayout.HEAD_MAJOR_SHARED) {
            List<Dim> cache = List.of(one, Dim.of(m.numKvHeads()), Dim.of("max_seq"), Dim.of(m.headDim()));
            List<Dim> rope = List.of(Dim.of("rope_positions"), Dim.of(m.headDim() / 2));
            layerInputs = List.of(new TensorSpec(HIDDEN, act, hidden),
                    new TensorSpec(PAST_KEY, kv, cache),
                    new TensorSpec(PAST_VALUE, kv, cache),
                    new TensorSpec(SEQLENS_K, DType.INT32, List.of(one)),
                    new TensorSpec(TOTAL_SEQUENCE_LENGTH, DType.INT32, List.of()),
                    new TensorSpec(COS_CACHE, kv, rope),
                    new TensorSpec(SIN_CACHE, kv, rope));
            layerOutputs = List.of(new TensorSpec(HIDDEN_OUT, act, hidden),
                    new TensorSpec(PRESENT_KEY, kv, cache),
                    new TensorSpec(PRESENT_VALUE, kv, cache));
        } else {
            if (kv != act) { // the sequence_major graphs store what they compute
                throw new IllegalArgumentException("a " + kv.yamlName() + " cache with " + act.yamlName()
                        + " activations needs the head_major_shared layout");
            }
            List<Dim> newKv = List.of(one, seq, Dim.of(m.numKvHeads()), Dim.of(m.headDim()));
            List<Dim> pastKv = List.of(one, Dim.of("past"), Dim.of(m.numKvHeads()), Dim.of(m.headDim()));
            layerInputs = List.of(new TensorSpec(HIDDEN, act, hidden),
                    new TensorSpec(POSITION_IDS, DType.INT64, ids),
                    new TensorSpec(PAST_KEY, act, pastKv),
                    new TensorSpec(PAST_VALUE, act, pastKv));
            layerOutputs = List.of(new TensorSpec(HIDDEN_OUT, act, hidden),
                    new TensorSpec(KEY, act, newKv),
                    new TensorSpec(VALUE, act, newKv));
        }
        layer = new Io(layerInputs, layerOutputs);
        // kv_fill: the layer's inputs (sequence_major: hidden and positions only), its K/V outputs.
        kvFill = new Io(layout == KvLayout.HEAD_MAJOR_SHARED ? layerInputs : layerInputs.subList(0, 2),
                layerOutputs.subList(1, 3));
        head = new Io(List.of(new TensorSpec(HIDDEN, act, hidden)),
                List.of(new TensorSpec(LOGITS, DType.FLOAT32, List.of(one, seq, Dim.of(m.vocabSize())))));
        // Exit and draft heads are calibrated in float32 whatever the activations.
        List<Dim> hidden32 = List.of(one, seq, Dim.of(m.hiddenSize()));
        exitHead = new Io(List.of(new TensorSpec(HIDDEN, DType.FLOAT32, hidden32)),
                List.of(new TensorSpec(HIDDEN_OUT, DType.FLOAT32, hidden32),
                        new TensorSpec(ACCEPT_PROB, DType.FLOAT32, List.of(one, seq))));
    }

    /**
     * The contract for a model.
     *
     * @param model the model's dimensions
     * @param activations the bundle's activation dtype
     * @param layout the KV cache layout
     * @return the contract
     */
    public static GraphContract of(ModelDims model, DType activations, KvLayout layout) {
        return of(model, activations, activations, layout);
    }

    /**
     * The contract for a model whose KV cache (and rotary tables, head_major_shared) may have another
     * element type than its activations.
     *
     * @param model the model's dimensions
     * @param activations the bundle's activation dtype
     * @param kv the KV cache's element type
     * @param layout the KV cache layout
     * @return the contract
     */
    public static GraphContract of(ModelDims model, DType activations, DType kv, KvLayout layout) {
        return new GraphContract(Objects.requireNonNull(model, "model"), Objects.requireNonNull(activations,
                "activations"), Objects.requireNonNull(kv, "kv"), Objects.requireNonNull(layout, "layout"));
    }

    /**
     * The contract of a validated bundle.
     *
     * @param manifest the manifest
     * @return the contract
     */
    public static GraphContract of(BundleManifest manifest) {
        return of(manifest.model(), manifest.weights().activations(), manifest.kvCache().dtype(),
                manifest.kvCache().layout());
    }

    /** @return {@code embed}: input_ids -> hidden */
    public Io embed() {
        return embed;
    }

    /** @return each decoder layer */
    public Io layer() {
        return layer;
    }

    /** @return the final norm + LM head: hidden -> float32 logits over the vocabulary */
    public Io head() {
        return head;
    }

    /** @return {@code kv_fill}: a layer's K/V only */
    public Io kvFill() {
        return kvFill;
    }

    /** @return a calibrated exit head: float32 hidden -> adapted hidden_out + accept_prob */
    public Io exitHead() {
        return exitHead;
    }

    /**
     * @param draftVocabSize the draft vocabulary's size
     * @return the feature drafter: feature, embedded and a layer's cache inputs -> feature_out,
     *     logits over the draft vocabulary and the layer's cache outputs (float32)
     */
    public Io featureDrafter(int draftVocabSize) {
        Dim one = Dim.of(1);
        Dim seq = Dim.of("seq");
        List<Dim> hidden = List.of(one, seq, Dim.of(model.hiddenSize()));
        List<TensorSpec> in = new java.util.ArrayList<>(List.of(new TensorSpec(FEATURE, DType.FLOAT32, hidden),
                new TensorSpec(EMBEDDED, DType.FLOAT32, hidden)));
        in.addAll(layer.inputs().subList(1, layer.inputs().size()));
        List<TensorSpec> out = new java.util.ArrayList<>(List.of(new TensorSpec(FEATURE_OUT, DType.FLOAT32, hidden),
                new TensorSpec(LOGITS, DType.FLOAT32, List.of(one, seq, Dim.of(draftVocabSize)))));
        out.addAll(layer.outputs().subList(1, layer.outputs().size()));
        return new Io(in, out);
    }

    /**
     * @param draftVocabSize the draft vocabulary's size
     * @return the draft head: float32 hidden -> float32 logits over the draft vocabulary
     */
    public Io draftHead(int draftVocabSize) {
        Dim one = Dim.of(1);
        Dim seq = Dim.of("seq");
        return new Io(exitHead.inputs(),
                List.of(new TensorSpec(LOGITS, DType.FLOAT32, List.of(one, seq, Dim.of(draftVocabSize)))));
    }

    /**
     * Compares tensors with the contract: the same names, each with the contract's dtype and shape
     * (order free, as ONNX binds by name).
     *
     * @param actual the graph's tensors
     * @param expected the contract's
     * @return the first difference, or null when they match
     */
    public static Mismatch mismatch(List<TensorSpec> actual, List<TensorSpec> expected) {
        List<String> expectedNames = expected.stream().map(TensorSpec::name).toList();
        for (int i = 0; i < actual.size(); i++) {
            TensorSpec a = actual.get(i);
            TensorSpec want = expected.stream().filter(t -> t.name().equals(a.name())).findFirst().orElse(null);
            if (want == null) {
                return new Mismatch(i, "'" + a.name() + "' is not in the contract of format version "
                        + BundleManifest.FORMAT_VERSION + " (expected " + String.join(", ", expectedNames) + ")");
            }
            if (a.dtype() != want.dtype() || !a.shape().equals(want.shape())) {
                return new Mismatch(i, "'" + a.name() + "' must be " + show(want) + ", got " + show(a));
            }
        }
        for (TensorSpec want : expected) {
            if (actual.stream().noneMatch(t -> t.name().equals(want.name()))) {
                return new Mismatch(-1, "has no '" + want.name() + "' (expected " + show(want) + ")");
            }
        }
        return null;
    }

    /**
     * @param t a tensor
     * @return {@code dtype [dims]}, as messages show it
     */
    public static String show(TensorSpec t) {
        return t.dtype().yamlName() + " " + t.shape();
    }

    @Override
    public String toString() {
        return "GraphContract[" + model.name() + "]";
    }
}
