package dev.skipper.bundle;

import dev.skipper.api.ModelInfo;
import java.nio.file.Path;
import java.util.Collections;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The manifest of a Skipper bundle (format {@value #FORMAT}, version {@value #FORMAT_VERSION}): what
 * the runtime needs to know to load and run an exported model.
 *
 * <p>A bundle is a directory with {@code manifest.yaml} at its root, written by the Python
 * exporter ({@code skipper_export}). Read one with {@link BundleManifestReader#read(Path, boolean)},
 * which validates every field; the records here hold already-validated values.
 *
 * @param directory the bundle's directory (its real path, symbolic links resolved)
 * @param format always {@value #FORMAT}
 * @param formatVersion always {@value #FORMAT_VERSION}
 * @param producer the tool that wrote the bundle, such as {@code skipper_export 0.1.0}
 * @param source the checkpoint the bundle was exported from
 * @param model the model's architecture and dimensions
 * @param weights how the weights are stored
 * @param flavour which ONNX operator set the graphs use
 * @param opsets ONNX operator set versions by domain ({@code ai.onnx}, {@code com.microsoft}, ...)
 * @param onnxruntime how ONNX Runtime should run the graphs
 * @param kvCache layout of the key/value cache the layer graphs read and write
 * @param ropeCache the rotary cos/sin table the layer graphs take as input (layout
 *     {@link KvLayout#HEAD_MAJOR_SHARED}), or {@code null}
 * @param speculation the draft settings calibrated for this bundle ({@code skipper calibrate}), or
 *     {@code null}
 * @param draftHeads the calibrated exit heads, draft vocabulary and routers ({@code skipper
 *     calibrate}), or {@code null}
 * @param firstRouters the calibrated per-sequence layer routers ({@code skipper calibrate}), or
 *     {@code null}
 * @param draftCorpus the model's own calibration answers for corpus lookup drafting ({@code skipper
 *     calibrate}), or {@code null}
 * @param tokenizer the tokenizer file and its special token ids
 * @param chatTemplate the Jinja chat template, or {@code null} when the model has none
 * @param graphs the ONNX graphs: embedding, one per decoder layer, head
 * @param files SHA-256 (lowercase hex) of every file of the bundle except {@code manifest.yaml},
 *     by path relative to the bundle directory ({@code /}-separated), in manifest order
 */
public record BundleManifest(
        Path directory,
        String format,
        int formatVersion,
        String producer,
        SourceSpec source,
        ModelDims model,
        WeightsSpec weights,
        Flavour flavour,
        Map<String, Integer> opsets,
        OrtSpec onnxruntime,
        KvCacheSpec kvCache,
        RopeCacheSpec ropeCache,
        SpeculationSpec speculation,
        DraftHeadsSpec draftHeads,
        FirstRoutersSpec firstRouters,
        FeatureDrafterSpec featureDrafter,
        DraftCorpusSpec draftCorpus,
        TokenizerSpec tokenizer,
        String chatTemplate,
        GraphsSpec graphs,
        Map<String, String> files) {

    /**
     * The public summary of this bundle an embedding app sees ({@code Engine.model()}).
     *
     * @return name, sizes and recipe
     */
    public ModelInfo modelInfo() {
        ModelInfo.Recipe recipe = new ModelInfo.Recipe(producer, weights.mode().name().toLowerCase(Locale.ROOT),
                weights.activations().yamlName(), weights.matmulAccuracy(), weights.exactArithmetic());
        return new ModelInfo(directory, model.name(), model.numLayers(), model.vocabSize(), model.maxPosition(),
                chatTemplate != null, recipe);
    }

    /** The value of the manifest's {@code format} key. */
    public static final String FORMAT = "skipper-bundle";

    /** The only format version this SDK reads. */
    public static final int FORMAT_VERSION = 1;

    /** The manifest's file name at the bundle root. */
    public static final String MANIFEST_FILE = "manifest.yaml";

    // Checks non-null components and makes the collections unmodifiable.
    public BundleManifest {
        Objects.requireNonNull(directory, "directory");
        Objects.requireNonNull(format, "format");
        Objects.requireNonNull(producer, "producer");
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(weights, "weights");
        Objects.requireNonNull(flavour, "flavour");
        opsets = orderedCopy(opsets, "opsets");
        Objects.requireNonNull(onnxruntime, "onnxruntime");
        Objects.requireNonNull(kvCache, "kvCache");
        if ((ropeCache != null) != (kvCache.layout() == KvLayout.HEAD_MAJOR_SHARED)) {
            throw new IllegalArgumentException("a rope cache goes with (and only with) the head_major_shared layout");
        }
        Objects.requireNonNull(tokenizer, "tokenizer");
        Objects.requireNonNull(graphs, "graphs");
        files = orderedCopy(files, "files");
    }

    /**
     * The chat template, when the model has one.
     *
     * @return the Jinja template, or empty
     */
    public Optional<String> chatTemplateIfAny() {
        return Optional.ofNullable(chatTemplate);
    }

    /**
     * Resolves a path listed in the manifest ({@link #files()}, a graph's or the tokenizer's
     * file) against the bundle directory.
     *
     * @param relativePath a {@code /}-separated path relative to the bundle directory
     * @return the file's path
     */
    public Path resolve(String relativePath) {
        return directory.resolve(relativePath);
    }

    /**
     * A graph's external data file: the exporter writes large initializers that ONNX Runtime maps
     * instead of copying (the embedding table) to {@code <graph>.bin} next to {@code <graph>.onnx},
     * and lists (hashes) it like every other file; a graph that reads another graph's data file
     * names it ({@code data}: the tied LM head reads {@code embed.bin}).
     *
     * @param graphFile a graph's file, as listed
     * @return the listed data file, or empty when the graph has its initializers inline
     */
    public Optional<String> externalData(String graphFile) {
        for (GraphSpec g : namedGraphs()) {
            if (g.file().equals(graphFile) && g.data() != null) {
                return Optional.of(g.data());
            }
        }
        if (!graphFile.endsWith(".onnx")) {
            return Optional.empty();
        }
        String data = graphFile.substring(0, graphFile.length() - ".onnx".length()) + ".bin";
        return files.containsKey(data) ? Optional.of(data) : Optional.empty();
    }

    /** The embedding, layer, head and K/V-only graphs. */
    private List<GraphSpec> namedGraphs() {
        List<GraphSpec> all = new java.util.ArrayList<>(graphs.layers());
        all.add(graphs.embed());
        all.add(graphs.head());
        all.addAll(graphs.kvFill());
        return all;
    }

    static <K, V> Map<K, V> orderedCopy(Map<K, V> map, String what) {
        Objects.requireNonNull(map, what);
        Map<K, V> copy = new LinkedHashMap<>();
        map.forEach((k, v) -> copy.put(Objects.requireNonNull(k, what), Objects.requireNonNull(v, what)));
        return Collections.unmodifiableMap(copy);
    }

    /** Which ONNX operators the graphs may use. */
    public enum Flavour {
        /** ONNX Runtime contrib operators ({@code com.microsoft} domain) allowed: CPU default. */
        ORT,
        /** Standard ONNX operators only (for TensorRT and other engines). */
        STANDARD;

        /**
         * The manifest spelling.
         *
         * @return {@code ort} or {@code standard}
         */
        public String yamlName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** Storage precision of a weight matrix (or of all matrices, for {@link WeightsSpec#mode()}). */
    public enum Precision {
        /** 32-bit floats. */
        FP32,
        /** 16-bit floats. */
        FP16,
        /** 8-bit integers in blocks of {@link WeightsSpec#blockSize()} with a scale each. */
        INT8,
        /** 4-bit integers in blocks of {@link WeightsSpec#blockSize()} with a scale each. */
        INT4;

        /**
         * Whether this precision stores integers in blocks.
         *
         * @return true for {@link #INT8} and {@link #INT4}
         */
        public boolean isQuantized() {
            return this == INT8 || this == INT4;
        }

        /**
         * The manifest spelling.
         *
         * @return {@code fp32}, {@code fp16}, {@code int8} or {@code int4}
         */
        public String yamlName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** Element type of a tensor. */
    public enum DType {
        /** 32-bit float. */
        FLOAT32,
        /** 16-bit float (IEEE half). */
        FLOAT16,
        /** bfloat16. */
        BFLOAT16,
        /** 64-bit signed integer. */
        INT64,
        /** 32-bit signed integer. */
        INT32;

        /**
         * The manifest spelling.
         *
         * @return for example {@code float32}
         */
        public String yamlName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * Settings for ONNX Runtime sessions over the bundle's graphs.
     *
     * @param sessionConfig session configuration entries to set on every session (ONNX Runtime's
     *     {@code SessionOptions.addConfigEntry}), such as
     *     {@code session.qdq_matmulnbits_accuracy_level = 0}; empty when the manifest has none
     */
    public record OrtSpec(Map<String, String> sessionConfig) {
        // Makes the map unmodifiable, keeping its order.
        public OrtSpec {
            sessionConfig = orderedCopy(sessionConfig, "sessionConfig");
        }

        /** No session configuration entries. */
        public static final OrtSpec NONE = new OrtSpec(Map.of());
    }

    /**
     * The checkpoint a bundle was exported from.
     *
     * @param format the checkpoint's format, such as {@code gguf} or {@code hf}
     * @param name its file or folder name
     * @param sha256 SHA-256 of the source file (lowercase hex), or {@code null} when the source
     *     was a folder
     */
    public record SourceSpec(String format, String name, String sha256) {
        // Checks non-null components.
        public SourceSpec {
            Objects.requireNonNull(format, "format");
            Objects.requireNonNull(name, "name");
        }
    }

    /**
     * Architecture and dimensions of the model.
     *
     * @param name the model's name
     * @param architecture the architecture family, such as {@code llama}
     * @param numLayers number of decoder layers (one layer graph each)
     * @param hiddenSize width of the residual stream
     * @param intermediateSize width of the MLP
     * @param numHeads attention (query) heads
     * @param numKvHeads key/value heads (grouped-query attention); divides {@code numHeads}
     * @param headDim width of one attention head
     * @param vocabSize rows of the embedding table and columns of the logits
     * @param maxPosition longest context the model was trained for
     * @param rmsNormEps epsilon of the RMS norms
     * @param rope rotary position embedding parameters
     * @param tieWordEmbeddings whether the LM head reuses the embedding table
     * @param attentionBias whether the q/k/v projections have biases
     */
    public record ModelDims(
            String name,
            String architecture,
            int numLayers,
            int hiddenSize,
            int intermediateSize,
            int numHeads,
            int numKvHeads,
            int headDim,
            int vocabSize,
            int maxPosition,
            double rmsNormEps,
            RopeSpec rope,
            boolean tieWordEmbeddings,
            boolean attentionBias) {
        // Checks non-null components.
        public ModelDims {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(architecture, "architecture");
            Objects.requireNonNull(rope, "rope");
        }
    }

    /** Rotary position embedding scaling kinds (as Hugging Face names them). */
    public enum RopeScaling {
        /** No scaling. */
        NONE,
        /** Positions divided by {@code factor}. */
        LINEAR,
        /** Llama 3 frequency-dependent scaling. */
        LLAMA3,
        /** YaRN (static). */
        YARN;

        /**
         * The manifest spelling.
         *
         * @return for example {@code llama3}
         */
        public String yamlName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * Rotary position embedding parameters. The scaling parameters are {@code null} where the
     * scaling kind does not use them.
     *
     * @param theta base frequency
     * @param scaling the scaling kind
     * @param factor context extension factor (linear, llama3, yarn)
     * @param originalMaxPosition context length before extension (linear, llama3, yarn; may be 0
     *     for linear)
     * @param lowFreqFactor llama3 low-frequency factor
     * @param highFreqFactor llama3 high-frequency factor
     * @param betaFast yarn fast boundary
     * @param betaSlow yarn slow boundary
     * @param attentionFactor yarn cos/sin multiplier; {@code null} also when yarn uses its default
     */
    public record RopeSpec(
            double theta,
            RopeScaling scaling,
            Double factor,
            Integer originalMaxPosition,
            Double lowFreqFactor,
            Double highFreqFactor,
            Double betaFast,
            Double betaSlow,
            Double attentionFactor) {
        // Checks non-null components.
        public RopeSpec {
            Objects.requireNonNull(scaling, "scaling");
        }
    }

    /**
     * The precisions each kind of weight matrix is stored in. A set has more than one element when
     * matrices of that kind differ, such as decoder layers in {@code int4+int8} exported from a
     * GGUF file that mixes 4-bit and 6-bit types.
     *
     * @param embedding the embedding table's precision(s)
     * @param layers the decoder layers' matrices' precision(s)
     * @param lmHead the LM head's precision(s)
     */
    public record RolePrecision(Set<Precision> embedding, Set<Precision> layers, Set<Precision> lmHead) {
        // Checks that each set is non-empty and makes it unmodifiable.
        public RolePrecision {
            embedding = nonEmpty(embedding, "embedding");
            layers = nonEmpty(layers, "layers");
            lmHead = nonEmpty(lmHead, "lmHead");
        }

        /**
         * Whether any matrix is stored in blocks of integers.
         *
         * @return true when some role uses {@link Precision#INT8} or {@link Precision#INT4}
         */
        public boolean anyQuantized() {
            return Stream.of(embedding, layers, lmHead).flatMap(Set::stream).anyMatch(Precision::isQuantized);
        }

        private static Set<Precision> nonEmpty(Set<Precision> set, String what) {
            if (set.isEmpty()) {
                throw new IllegalArgumentException(what + " must name at least one precision");
            }
            return Collections.unmodifiableSet(EnumSet.copyOf(set));
        }
    }

    /**
     * How the weights are stored and computed.
     *
     * @param mode the requested weight precision
     * @param activations element type of activations and of the KV cache
     * @param precision the precision each kind of matrix got
     * @param blockSize block size of the quantized matrices, or {@code null} when none is
     *     quantized
     * @param exactFromSource whether quantized values are the source checkpoint's own integers
     * @param matmulAccuracy compute of the quantized matmuls in the ort flavour: {@code int8}
     *     (activations quantized per block) or {@code fp32}; {@code fp32} when the manifest omits it
     */
    public record WeightsSpec(
            Precision mode,
            DType activations,
            RolePrecision precision,
            Integer blockSize,
            boolean exactFromSource,
            String matmulAccuracy) {
        // Checks non-null components.
        public WeightsSpec {
            Objects.requireNonNull(mode, "mode");
            Objects.requireNonNull(activations, "activations");
            Objects.requireNonNull(precision, "precision");
            Objects.requireNonNull(matmulAccuracy, "matmulAccuracy");
        }

        /**
         * Whether the bundle computes float32 arithmetic on the source checkpoint's own values:
         * float32 activations, no float16 matrix, and quantized matrices only as the source's exact
         * integers with float32 matmuls. Such a bundle differs from exact math only by float32
         * rounding, so its top-1 may differ from a float64 reference's only at near-ties.
         *
         * @return true for float32 arithmetic on exact weights
         */
        public boolean exactArithmetic() {
            boolean fp16 = Stream.of(precision.embedding(), precision.layers(), precision.lmHead())
                    .anyMatch(set -> set.contains(Precision.FP16));
            boolean quantizedExactly = !precision.anyQuantized() || (exactFromSource && "fp32".equals(matmulAccuracy));
            return activations == DType.FLOAT32 && !fp16 && quantizedExactly;
        }
    }

    /**
     * One dimension of a tensor shape: a fixed size or a symbolic name such as {@code seq} (new
     * tokens in this call), {@code past} (tokens already cached) or {@code max_seq}.
     *
     * @param size the fixed size, or -1 when symbolic
     * @param symbol the symbolic name, or {@code null} when fixed
     */
    public record Dim(long size, String symbol) {
        // Checks that exactly one of size and symbol is set.
        public Dim {
            if ((symbol == null) == (size < 0)) {
                throw new IllegalArgumentException("a Dim is either a size >= 0 or a symbol");
            }
        }

        /**
         * A fixed-size dimension.
         *
         * @param size the size, at least 0
         * @return the dimension
         */
        public static Dim of(long size) {
            return new Dim(size, null);
        }

        /**
         * A symbolic dimension.
         *
         * @param symbol the name, such as {@code seq}
         * @return the dimension
         */
        public static Dim of(String symbol) {
            return new Dim(-1, Objects.requireNonNull(symbol, "symbol"));
        }

        /**
         * Whether the dimension is symbolic.
         *
         * @return true when it has a name instead of a size
         */
        public boolean isSymbolic() {
            return symbol != null;
        }

        @Override
        public String toString() {
            return symbol != null ? symbol : Long.toString(size);
        }
    }

    /**
     * A graph input or output.
     *
     * @param name the ONNX value name
     * @param dtype its element type
     * @param shape its dimensions, fixed or symbolic
     */
    public record TensorSpec(String name, DType dtype, List<Dim> shape) {
        // Checks non-null components and copies the shape.
        public TensorSpec {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(dtype, "dtype");
            shape = List.copyOf(shape);
        }
    }

    /**
     * One ONNX graph of the bundle.
     *
     * @param file path of the {@code .onnx} file, relative to the bundle directory
     * @param inputs the graph's inputs, in order
     * @param outputs the graph's outputs, in order
     * @param data the listed file holding the graph's external initializers when it names one
     *             ({@code data}, exporter 0.8.0: a tied LM head reads the embedding table's bytes
     *             from {@code embed.bin}), else null ({@link BundleManifest#externalData})
     */
    public record GraphSpec(String file, List<TensorSpec> inputs, List<TensorSpec> outputs, String data) {
        // Checks non-null components and copies the lists.
        public GraphSpec {
            Objects.requireNonNull(file, "file");
            inputs = List.copyOf(inputs);
            outputs = List.copyOf(outputs);
        }

        /**
         * A graph without a named data file.
         *
         * @param file path of the {@code .onnx} file, relative to the bundle directory
         * @param inputs the graph's inputs, in order
         * @param outputs the graph's outputs, in order
         */
        public GraphSpec(String file, List<TensorSpec> inputs, List<TensorSpec> outputs) {
            this(file, inputs, outputs, null);
        }

        /**
         * Finds an input by name.
         *
         * @param name the ONNX value name
         * @return the input, or empty
         */
        public Optional<TensorSpec> input(String name) {
            return inputs.stream().filter(t -> t.name().equals(name)).findFirst();
        }

        /**
         * Finds an output by name.
         *
         * @param name the ONNX value name
         * @return the output, or empty
         */
        public Optional<TensorSpec> output(String name) {
            return outputs.stream().filter(t -> t.name().equals(name)).findFirst();
        }
    }

    /**
     * All graphs of the bundle. {@code layers.get(i)} is decoder layer {@code i}.
     *
     * @param embed token ids to hidden states
     * @param layers one graph per decoder layer, in order
     * @param head hidden states to logits (includes the final norm)
     * @param kvFill one K/V-only graph per decoder layer, in order (lossy adaptive depth fills
     *     deeper layers' cache rows of tokens that exited early), or empty in older bundles
     */
    public record GraphsSpec(GraphSpec embed, List<GraphSpec> layers, GraphSpec head, List<GraphSpec> kvFill,
                             EmbedTableSpec embedTable) {
        // Checks non-null components and copies the lists.
        public GraphsSpec {
            Objects.requireNonNull(embed, "embed");
            layers = List.copyOf(layers);
            Objects.requireNonNull(head, "head");
            kvFill = List.copyOf(kvFill);
        }

        /**
         * Graphs without a described embedding table.
         *
         * @param embed token ids to hidden states
         * @param layers one graph per decoder layer
         * @param head hidden states to logits
         * @param kvFill K/V-only graphs, one per layer, or empty
         */
        public GraphsSpec(GraphSpec embed, List<GraphSpec> layers, GraphSpec head, List<GraphSpec> kvFill) {
            this(embed, layers, head, kvFill, null);
        }

        /**
         * Graphs without K/V-only graphs.
         *
         * @param embed token ids to hidden states
         * @param layers one graph per decoder layer
         * @param head hidden states to logits
         */
        public GraphsSpec(GraphSpec embed, List<GraphSpec> layers, GraphSpec head) {
            this(embed, layers, head, List.of());
        }
    }

    /**
     * Where the embedding graph's rows lie in its data file ({@code graphs.embed.table}, exporter
     * 0.7.0): row {@code r}, column {@code c} is {@code float(values[r][c]) * scales[r][c / blockSize]
     * + offsets[r][c / blockSize]} in float32, exactly what {@code embed.onnx} computes, so a runtime
     * may read rows itself. Little-endian; regions are checked against the file when it is opened.
     *
     * @param file the data file, listed under {@code files}
     * @param rows {@code model.vocab_size}
     * @param columns {@code model.hidden_size}
     * @param values element type of {@code values}
     * @param valuesOffset byte offset of {@code values [rows][columns]}
     * @param blockSize columns per scale, 0 for unscaled (float) values
     * @param scalesOffset byte offset of float32 {@code scales [rows][columns / blockSize]}, -1 without
     * @param offsetsOffset byte offset of float32 {@code offsets}, same shape, -1 without
     */
    public record EmbedTableSpec(String file, int rows, int columns, TableValues values, long valuesOffset,
                                 int blockSize, long scalesOffset, long offsetsOffset) {
        // Checks non-null components and that the blocks are consistent.
        public EmbedTableSpec {
            Objects.requireNonNull(file, "file");
            Objects.requireNonNull(values, "values");
            if (rows <= 0 || columns <= 0 || valuesOffset < 0) {
                throw new IllegalArgumentException("an embedding table needs rows, columns and a values offset");
            }
            boolean quantized = values.integer();
            if (quantized != (blockSize > 0) || (blockSize > 0 && (columns % blockSize != 0 || scalesOffset < 0))
                    || (blockSize == 0 && (scalesOffset >= 0 || offsetsOffset >= 0))) {
                throw new IllegalArgumentException("integer table values go with block scales, float ones without");
            }
        }

        /** @return bytes of one row's values */
        public long valueRowBytes() {
            return (long) columns * values.bytes();
        }

        /** @return blocks (scales) per row, 0 without */
        public int blocks() {
            return blockSize == 0 ? 0 : columns / blockSize;
        }
    }

    /** Element types of a described embedding table's values. */
    public enum TableValues {
        /** Signed 8-bit integers (scaled). */
        INT8(1),
        /** Unsigned 8-bit integers (scaled; 4-bit tables are stored unpacked). */
        UINT8(1),
        /**
         * Unsigned bytes {@code b} standing for {@code b - 128} (scaled): ONNX Runtime's 8-bit
         * MatMulNBits layout, so a tied LM head reads the same bytes (exporter 0.8.0).
         */
        BIASED_INT8(1),
        /** IEEE half floats. */
        FLOAT16(2),
        /** 32-bit floats. */
        FLOAT32(4);

        private final int bytes;

        TableValues(int bytes) {
            this.bytes = bytes;
        }

        /** @return bytes per element */
        public int bytes() {
            return bytes;
        }

        /** @return true for the integer (block-scaled) kinds */
        public boolean integer() {
            return this == INT8 || this == UINT8 || this == BIASED_INT8;
        }

        /** @return the manifest spelling, for example {@code int8} */
        public String yamlName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** How the layer graphs address the per-layer key/value cache. */
    public enum KvLayout {
        /**
         * {@code [1, max_seq, kv_heads, head_dim]}: the graph reads the valid prefix as
         * {@code past_key}/{@code past_value} {@code [1, past, kv_heads, head_dim]} and returns only
         * the new rows ({@code key}/{@code value} {@code [1, seq, kv_heads, head_dim]}), which the
         * runtime stores after the prefix. Standard operators only.
         */
        SEQUENCE_MAJOR,
        /**
         * {@code [1, kv_heads, max_seq, head_dim]}: the whole buffer is both the
         * {@code past_key}/{@code past_value} input and the {@code present_key}/{@code present_value}
         * output (ONNX Runtime's GroupQueryAttention appends in place); the valid length travels in
         * {@code seqlens_k} and {@code total_sequence_length}.
         */
        HEAD_MAJOR_SHARED;

        /** @return the manifest spelling, for example {@code sequence_major} */
        public String yamlName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * The key/value cache the layer graphs read and extend.
     *
     * @param layout how the graphs address it
     * @param shape the cache's shape per layer: {@code [1, max_seq, num_kv_heads, head_dim]} or
     *     {@code [1, num_kv_heads, max_seq, head_dim]} by layout
     * @param dtype element type (same as {@link WeightsSpec#activations()})
     * @param keysRotated whether cached keys already have rotary embedding applied
     * @param scratchRows rows after {@code max_seq} the layer graphs may write (never valid): the
     *     runtime's buffers hold {@code max_seq + scratchRows} rows. The ort flavour's layers repeat
     *     the last new token once so attention never takes ONNX Runtime's single-row path (batch
     *     invariance); 0 when the manifest omits it
     */
    public record KvCacheSpec(KvLayout layout, List<Dim> shape, DType dtype, boolean keysRotated, int scratchRows) {
        /** Upper bound the reader accepts for {@link #scratchRows()}. */
        public static final int MAX_SCRATCH_ROWS = 16;

        // Checks non-null components and copies the shape.
        public KvCacheSpec {
            Objects.requireNonNull(layout, "layout");
            shape = List.copyOf(shape);
            Objects.requireNonNull(dtype, "dtype");
        }
    }

    /**
     * The rotary embedding table fed to every layer graph as {@code cos_cache} and
     * {@code sin_cache}: a raw little-endian file {@code [2][positions][width]}, cosines first.
     *
     * @param file path relative to the bundle directory (listed in {@code files})
     * @param dtype element type (same as the activations)
     * @param positions rows: positions the table covers (the model's max_position)
     * @param width values per row: head_dim / 2
     */
    public record RopeCacheSpec(String file, DType dtype, int positions, int width) {
        // Checks non-null components.
        public RopeCacheSpec {
            Objects.requireNonNull(file, "file");
            Objects.requireNonNull(dtype, "dtype");
        }

        /** @return the file's exact size in bytes */
        public long bytes() {
            return 2L * positions * width * (dtype == DType.FLOAT16 ? 2 : 4);
        }
    }

    /**
     * Draft settings found by calibration.
     *
     * @param skipLayers the skip set with the best estimated speed-up, ascending, each in
     *     {@code [0, num_layers)}
     * @param estimatedSpeedup the calibration's estimate of layer-skip drafting over plain decoding
     *     (below 1: it does not pay, and automatic speculation does not use it)
     * @param agreement teacher-forced top-1 agreement of the draft with the full model
     */
    public record SpeculationSpec(List<Integer> skipLayers, double estimatedSpeedup, double agreement) {
        // Copies the list.
        public SpeculationSpec {
            skipLayers = List.copyOf(skipLayers);
        }
    }

    /**
     * Early-exit draft artefacts fitted by calibration (bundle-format.md, {@code draft_heads}).
     *
     * @param vocabFile {@code int32} little-endian token ids of the draft vocabulary, {@code [vocabSize]}
     * @param vocabSize tokens the draft head scores (at most the model's vocabulary)
     * @param head hidden {@code [1, seq, H]} (an exit graph's {@code hidden_out}) to
     *     {@code logits [1, seq, vocabSize]} over the draft vocabulary
     * @param defaultExit the exit layer with the best estimated speed-up
     * @param exits one per exit layer, ascending by layer
     * @param heldOutTokens held-out tokens the exits' threshold tables were measured on
     *     ({@code calibration.test_tokens}), 0 when the bundle does not say
     */
    public record DraftHeadsSpec(String vocabFile, int vocabSize, GraphSpec head, int defaultExit,
                                 List<ExitHeadSpec> exits, int heldOutTokens) {
        // Checks non-null components and copies the list.
        public DraftHeadsSpec {
            Objects.requireNonNull(vocabFile, "vocabFile");
            Objects.requireNonNull(head, "head");
            exits = List.copyOf(exits);
            if (heldOutTokens < 0) {
                throw new IllegalArgumentException("heldOutTokens must be >= 0, got " + heldOutTokens);
            }
        }

        /** Without a held-out token count (the threshold tables' precisions are taken as measured). */
        public DraftHeadsSpec(String vocabFile, int vocabSize, GraphSpec head, int defaultExit,
                              List<ExitHeadSpec> exits) {
            this(vocabFile, vocabSize, head, defaultExit, exits, 0);
        }

        /**
         * @param layer an exit layer
         * @return that layer's exit head, or empty
         */
        public Optional<ExitHeadSpec> exit(int layer) {
            return exits.stream().filter(e -> e.layer() == layer).findFirst();
        }

        /** @return the exit head at {@link #defaultExit()} */
        public ExitHeadSpec defaultHead() {
            return exit(defaultExit).orElseThrow();
        }
    }

    /**
     * The trained feature drafter (EAGLE-style; bundle-format.md, {@code feature_drafter}): one
     * decoder layer of the model's shape with its own KV cache, reading the target's last-layer
     * output for the previous position and the current token's embedding, predicting the next
     * position's feature and draft-vocabulary logits.
     *
     * @param graph feature, embedded and a layer's cache inputs to feature_out, logits
     *     {@code [1, seq, vocabSize]} and the layer's cache outputs
     * @param vocabSize its draft vocabulary: the same file and size as {@code draft_heads.vocab}
     * @param confidence held-out {@code [threshold, precision, coverage]} rows of the draft's own
     *     top-1 probability against "the draft is the model's top-1", ascending by threshold
     * @param acceptance held-out share of rounds that accept at least s drafts, s = 1..k
     * @param draftLen the draft length with the best estimated speed-up
     * @param draftCost one drafted token as a fraction of a plain decode step (measured by calibration)
     * @param estimatedSpeedup calibration's estimate at {@code draftLen} drafts per round
     */
    public record FeatureDrafterSpec(GraphSpec graph, int vocabSize, List<double[]> confidence, double[] acceptance,
                                     int draftLen, double draftCost, double estimatedSpeedup) {
        // Checks non-null components and copies the collections.
        public FeatureDrafterSpec {
            Objects.requireNonNull(graph, "graph");
            confidence = List.copyOf(confidence);
            acceptance = acceptance.clone();
        }

        /** @return the measured acceptance per draft position (a copy) */
        @Override
        public double[] acceptance() {
            return acceptance.clone();
        }
    }

    /**
     * The draft corpus (bundle-format.md, {@code draft_corpus}): the model's own greedy answers from
     * calibration, which the runtime drafts from by looking up the text so far (like prompt lookup).
     *
     * @param file int32 little-endian token ids, each answer followed by -1
     * @param tokens entries in the file (separators included), 1 .. {@link #MAX_TOKENS}
     * @param sequences answers (= separators), 1 .. tokens
     */
    public record DraftCorpusSpec(String file, int tokens, int sequences) {
        /** Most entries a corpus may have (4 MiB; its index at load takes ~60 bytes per entry for a while). */
        public static final int MAX_TOKENS = 1 << 20;

        // Checks the file and the sizes.
        public DraftCorpusSpec {
            Objects.requireNonNull(file, "file");
            if (tokens < 1 || tokens > MAX_TOKENS || sequences < 1 || sequences > tokens) {
                throw new IllegalArgumentException("draft corpus of " + tokens + " tokens, " + sequences + " sequences");
            }
        }
    }

    /**
     * FiRST-style per-sequence layer routers (bundle-format.md, {@code first_routers}): for each
     * layer a linear score of the prompt's pooled hidden state at that layer's input predicts the
     * agreement kept when the layer is skipped; the {@code skipCount} best form the sequence's
     * (draft) skip set.
     *
     * @param file float32 little-endian {@code [num_layers][hidden + 1]}: weights, then the bias
     * @param skipCount layers skipped per sequence, 1 .. num_layers-1
     * @param poolRows the pooled rows: the last {@code poolRows} prompt rows (weightless RMS
     *     normalised, then averaged)
     * @param agreementFirst held-out agreement with per-sequence sets
     * @param agreementGlobal held-out agreement with the best global set of the same size
     */
    public record FirstRoutersSpec(String file, int skipCount, int poolRows, double agreementFirst,
                                   double agreementGlobal) {
        // Checks non-null components.
        public FirstRoutersSpec {
            Objects.requireNonNull(file, "file");
        }
    }

    /**
     * One exit head: after {@code layer} layers, an adapter maps the hidden state into the final
     * layer's space ({@code hidden_out}) and a router estimates the probability that the draft
     * head's top-1 equals the full model's ({@code accept_prob [1, seq]}).
     *
     * @param layer layers run before the exit, 1 .. num_layers-1
     * @param graph the exit graph
     * @param agreement held-out top-1 agreement of adapter + draft head with the full model
     * @param rawAgreement the same for the final norm + full head without adapter (training-free)
     * @param estimatedSpeedup calibration's estimate for early-exit drafting at this layer
     * @param router the router's held-out calibration: {@code [threshold, precision, coverage]}
     *     rows, ascending by threshold
     * @param confidence the same for the exit's own top-1 probability over the draft vocabulary
     * @param routerAuc held-out ROC AUC of the router's probability for "draft top-1 = full top-1"
     * @param confidenceAuc the same for the exit's own top-1 probability
     */
    public record ExitHeadSpec(int layer, GraphSpec graph, double agreement, double rawAgreement,
                               double estimatedSpeedup, List<double[]> router, List<double[]> confidence,
                               double routerAuc, double confidenceAuc) {
        // Checks non-null components and copies the lists.
        public ExitHeadSpec {
            Objects.requireNonNull(graph, "graph");
            router = router.stream().map(double[]::clone).toList();
            confidence = confidence.stream().map(double[]::clone).toList();
        }
    }

    /**
     * The tokenizer.
     *
     * @param kind {@link Kind#BPE} ({@code tokenizer.json}) or {@link Kind#SPM}
     *     ({@code tokenizer.model})
     * @param file the tokenizer file, relative to the bundle directory
     * @param bosId beginning-of-sequence token, or {@code null}
     * @param eosIds tokens that end generation (may be empty)
     * @param padId padding token, or {@code null}
     * @param unkId unknown token, or {@code null}
     * @param addBos whether encoding prepends {@code bosId}
     * @param specialTokens special tokens' text to id, in manifest order
     */
    public record TokenizerSpec(
            Kind kind,
            String file,
            Integer bosId,
            List<Integer> eosIds,
            Integer padId,
            Integer unkId,
            boolean addBos,
            Map<String, Integer> specialTokens) {
        // Checks non-null components and copies the collections.
        public TokenizerSpec {
            Objects.requireNonNull(kind, "kind");
            Objects.requireNonNull(file, "file");
            eosIds = List.copyOf(eosIds);
            specialTokens = orderedCopy(specialTokens, "specialTokens");
        }

        /** Tokenizer kinds. */
        public enum Kind {
            /** Byte-level BPE, Hugging Face {@code tokenizer.json}. */
            BPE,
            /** SentencePiece model. */
            SPM;

            /**
             * The manifest spelling.
             *
             * @return {@code bpe} or {@code spm}
             */
            public String yamlName() {
                return name().toLowerCase(Locale.ROOT);
            }
        }
    }
}
