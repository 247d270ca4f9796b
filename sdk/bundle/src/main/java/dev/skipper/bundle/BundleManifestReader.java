package dev.skipper.bundle;

import dev.skipper.bundle.yaml.HardenedYaml;

import dev.skipper.api.BundleFormatException;
import dev.skipper.bundle.BundleManifest.DType;
import dev.skipper.bundle.BundleManifest.Dim;
import dev.skipper.bundle.BundleManifest.EmbedTableSpec;
import dev.skipper.bundle.BundleManifest.DraftHeadsSpec;
import dev.skipper.bundle.BundleManifest.ExitHeadSpec;
import dev.skipper.bundle.BundleManifest.FeatureDrafterSpec;
import dev.skipper.bundle.BundleManifest.DraftCorpusSpec;
import dev.skipper.bundle.BundleManifest.FirstRoutersSpec;
import dev.skipper.bundle.BundleManifest.Flavour;
import dev.skipper.bundle.BundleManifest.GraphSpec;
import dev.skipper.bundle.BundleManifest.GraphsSpec;
import dev.skipper.bundle.BundleManifest.KvCacheSpec;
import dev.skipper.bundle.BundleManifest.KvLayout;
import dev.skipper.bundle.BundleManifest.ModelDims;
import dev.skipper.bundle.BundleManifest.OrtSpec;
import dev.skipper.bundle.BundleManifest.Precision;
import dev.skipper.bundle.BundleManifest.RolePrecision;
import dev.skipper.bundle.BundleManifest.RopeCacheSpec;
import dev.skipper.bundle.BundleManifest.RopeScaling;
import dev.skipper.bundle.BundleManifest.RopeSpec;
import dev.skipper.bundle.BundleManifest.SourceSpec;
import dev.skipper.bundle.BundleManifest.SpeculationSpec;
import dev.skipper.bundle.BundleManifest.TableValues;
import dev.skipper.bundle.BundleManifest.TensorSpec;
import dev.skipper.bundle.BundleManifest.TokenizerSpec;
import dev.skipper.bundle.BundleManifest.WeightsSpec;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Pattern;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.SequenceNode;

/**
 * Reads and validates a bundle's {@code manifest.yaml}.
 *
 * <p>The YAML is read under the shared {@link HardenedYaml} policy (composed to nodes only, standard
 * tags only, duplicate keys rejected), with at most {@value #MAX_ALIASES} aliases to collections,
 * nesting at most {@value #MAX_NESTING} deep and at most {@value #MAX_CODE_POINTS} code points.
 * Then every key the format defines is checked: presence, type, range, consistency between sections (layer count, KV cache shape, token ids, each graph's inputs and outputs against
 * the format's contract in {@code docs/bundle-format.md}), and every file the manifest names must be
 * a regular file inside the bundle directory (relative path, no {@code ..}, no symbolic link leading
 * out). Any problem raises a {@link BundleFormatException} whose one-line message names the
 * manifest, the line and the key.
 *
 * <p>Keys the reader does not know, at the top level or inside any section, are ignored: within a
 * {@code format_version} newer exporters may add keys, and anything that changes meaning bumps
 * {@code format_version} instead ({@code docs/bundle-format.md}, "Versioning"). That is why
 * {@code format_version} is checked right after {@code format}: a version other than
 * {@value BundleManifest#FORMAT_VERSION} is rejected before any other key is read. The maps whose
 * keys are data rather than names the format defines ({@code opsets},
 * {@code onnxruntime.session_config}, {@code tokenizer.special_tokens}, {@code files}) are not
 * sections in this sense: every entry of those is checked.
 *
 * <p>This class is stateless and thread-safe.
 */
public final class BundleManifestReader {

    /** Most code points a manifest may have (4 MiB). */
    public static final int MAX_CODE_POINTS = 4 * 1024 * 1024;

    /** Most aliases to collections a manifest may use (guards against "billion laughs"). */
    public static final int MAX_ALIASES = 10;

    /** Deepest nesting of collections a manifest may have. */
    public static final int MAX_NESTING = 20;

    /** Most bytes a manifest file may have (4 bytes per code point at most in UTF-8). */
    public static final long MAX_MANIFEST_BYTES = 4L * MAX_CODE_POINTS;

    private static final HardenedYaml.Limits LIMITS = new HardenedYaml.Limits(MAX_CODE_POINTS, MAX_ALIASES, MAX_NESTING);



    private BundleManifestReader() {
    }

    /**
     * Reads and validates the manifest of a bundle.
     *
     * @param bundleDir the bundle directory (the folder holding {@code manifest.yaml})
     * @param verifyHashes also compute the SHA-256 of every file listed under {@code files} and
     *     compare it with the manifest (reads the whole bundle: about a second per 500 MB)
     * @return the validated manifest
     * @throws BundleFormatException when the directory is not a valid bundle; the message says
     *     where and what
     * @throws IOException when a file cannot be read
     */
    public static BundleManifest read(Path bundleDir, boolean verifyHashes)
            throws BundleFormatException, IOException {
        Objects.requireNonNull(bundleDir, "bundleDir");
        if (!Files.isDirectory(bundleDir)) {
            throw new BundleFormatException(bundleDir, 0, null,
                    Files.exists(bundleDir) ? "not a directory" : "no such directory");
        }
        Path manifest = bundleDir.resolve(BundleManifest.MANIFEST_FILE);
        if (!Files.isRegularFile(manifest)) {
            throw new BundleFormatException(manifest, 0, null,
                    "not found: " + bundleDir + " is not a Skipper bundle");
        }
        long bytes = Files.size(manifest);
        if (bytes > MAX_MANIFEST_BYTES) {
            throw new BundleFormatException(manifest, 0, null, "too large: " + bytes + " bytes (at most "
                    + MAX_MANIFEST_BYTES + ")");
        }
        String text;
        try {
            text = HardenedYaml.decodeUtf8(Files.readAllBytes(manifest));
        } catch (CharacterCodingException e) {
            throw new BundleFormatException(manifest, 0, null, "not valid UTF-8", e);
        }
        Node root;
        try {
            root = HardenedYaml.compose(text, LIMITS);
        } catch (HardenedYaml.Failure e) {
            throw new BundleFormatException(manifest, e.line(), e.keyPath(), e.problem(), e);
        }
        if (root == null) {
            throw new BundleFormatException(manifest, 0, null, "empty manifest");
        }
        return new Parser(manifest, bundleDir.toRealPath()).parse(root, verifyHashes);
    }

    /** Walks the node tree of one manifest; every check that fails throws. */
    private static final class Parser extends ManifestNodes {
        private final Path root;

        Parser(Path manifest, Path root) {
            super(manifest);
            this.root = root;
        }

        BundleManifest parse(Node rootNode, boolean verifyHashes) throws BundleFormatException, IOException {
            Section top = section(rootNode, "");
            String format = string(top.required("format"), "format");
            if (!BundleManifest.FORMAT.equals(format)) {
                throw fail(top.required("format"), "format",
                        "must be '" + BundleManifest.FORMAT + "', got '" + HardenedYaml.clip(format) + "': not a Skipper bundle");
            }
            Node versionNode = top.required("format_version");
            Object version = scalar(versionNode, "format_version", "an integer");
            if (!(version instanceof Integer v)) {
                throw fail(versionNode, "format_version", "must be an integer, got " + HardenedYaml.describe(versionNode));
            }
            if (v != BundleManifest.FORMAT_VERSION) {
                throw fail(versionNode, "format_version", "is " + v + ", but this SDK reads only version "
                        + BundleManifest.FORMAT_VERSION + (v > BundleManifest.FORMAT_VERSION
                                ? " (upgrade the SDK or re-export with a matching exporter)"
                                : " (re-export the bundle)"));
            }

            String producer = nonEmptyString(top.required("producer"), "producer");
            SourceSpec source = source(section(top.required("source"), "source"));
            ModelDims model = model(section(top.required("model"), "model"));
            WeightsSpec weights = weights(section(top.required("weights"), "weights"));
            Flavour flavour = choice(top.required("flavour"), "flavour", Flavour.values(), Flavour::yamlName);
            Map<String, Integer> opsets = opsets(section(top.required("opsets"), "opsets"), flavour);
            Node ortNode = top.optional("onnxruntime");
            OrtSpec ort = ortNode == null || HardenedYaml.isNull(ortNode) ? OrtSpec.NONE : ort(section(ortNode, "onnxruntime"));
            KvCacheSpec kvCache = kvCache(section(top.required("kv_cache"), "kv_cache"), model, weights);
            Section filesSection = section(top.required("files"), "files");
            Map<String, Path> listed = files(filesSection);
            RopeCacheSpec ropeCache = ropeCache(top.optional("rope_cache"), top.required("kv_cache"), kvCache, model,
                    weights, listed);
            Node specNode = top.optional("speculation");
            SpeculationSpec speculation = specNode == null || HardenedYaml.isNull(specNode) ? null
                    : speculation(section(specNode, "speculation"), model);
            Node draftNode = top.optional("draft_heads");
            DraftHeadsSpec draftHeads = draftNode == null || HardenedYaml.isNull(draftNode) ? null
                    : draftHeads(section(draftNode, "draft_heads"), model, weights, listed);
            Node firstNode = top.optional("first_routers");
            FirstRoutersSpec firstRouters = firstNode == null || HardenedYaml.isNull(firstNode) ? null
                    : firstRouters(section(firstNode, "first_routers"), model, listed);
            Node featureNode = top.optional("feature_drafter");
            FeatureDrafterSpec featureDrafter = featureNode == null || HardenedYaml.isNull(featureNode) ? null
                    : featureDrafter(section(featureNode, "feature_drafter"), model, weights, kvCache, listed,
                            draftHeads);
            Node corpusNode = top.optional("draft_corpus");
            DraftCorpusSpec draftCorpus = corpusNode == null || HardenedYaml.isNull(corpusNode) ? null
                    : draftCorpus(section(corpusNode, "draft_corpus"), listed);
            TokenizerSpec tokenizer = tokenizer(section(top.required("tokenizer"), "tokenizer"), model, listed);
            Node templateNode = top.required("chat_template");
            String chatTemplate = HardenedYaml.isNull(templateNode) ? null : string(templateNode, "chat_template");
            GraphsSpec graphs = graphs(section(top.required("graphs"), "graphs"), model, weights, kvCache, listed);

            Map<String, String> files = new LinkedHashMap<>();
            for (Map.Entry<String, NodeTuple> e : filesSection.entries.entrySet()) {
                files.put(e.getKey(), (String) scalar(e.getValue().getValueNode(), null, null));
            }
            if (verifyHashes) {
                verify(filesSection, files, listed);
            }
            return new BundleManifest(root, format, v, producer, source, model, weights, flavour, opsets,
                    ort, kvCache, ropeCache, speculation, draftHeads, firstRouters, featureDrafter, draftCorpus, tokenizer,
                    chatTemplate, graphs, files);
        }

        // ---- sections -----------------------------------------------------------------------

        private SourceSpec source(Section s) throws BundleFormatException {
            String format = nonEmptyString(s.required("format"), s.child("format"));
            String name = nonEmptyString(s.required("name"), s.child("name"));
            Node shaNode = s.optional("sha256");
            String sha = shaNode == null || HardenedYaml.isNull(shaNode) ? null : sha256(shaNode, s.child("sha256"));
            return new SourceSpec(format, name, sha);
        }

        private ModelDims model(Section s) throws BundleFormatException {
            String name = string(s.required("name"), s.child("name"));
            String architecture = nonEmptyString(s.required("architecture"), s.child("architecture"));
            int numLayers = positiveInt(s, "num_layers");
            int hidden = positiveInt(s, "hidden_size");
            int intermediate = positiveInt(s, "intermediate_size");
            int heads = positiveInt(s, "num_heads");
            int kvHeads = positiveInt(s, "num_kv_heads");
            if (heads % kvHeads != 0) {
                throw fail(s.required("num_kv_heads"), s.child("num_kv_heads"),
                        "(" + kvHeads + ") must divide model.num_heads (" + heads + ")");
            }
            int headDim = positiveInt(s, "head_dim");
            int vocab = positiveInt(s, "vocab_size");
            int maxPosition = positiveInt(s, "max_position");
            double eps = positiveNumber(s.required("rms_norm_eps"), s.child("rms_norm_eps"));
            RopeSpec rope = rope(section(s.required("rope"), s.child("rope")));
            boolean tie = bool(s.required("tie_word_embeddings"), s.child("tie_word_embeddings"));
            boolean bias = bool(s.required("attention_bias"), s.child("attention_bias"));
            return new ModelDims(name, architecture, numLayers, hidden, intermediate, heads, kvHeads, headDim,
                    vocab, maxPosition, eps, rope, tie, bias);
        }

        private RopeSpec rope(Section s) throws BundleFormatException {
            double theta = positiveNumber(s.required("theta"), s.child("theta"));
            RopeScaling scaling = choice(s.required("scaling"), s.child("scaling"), RopeScaling.values(),
                    RopeScaling::yamlName);
            Double factor = null;
            Integer originalMax = null;
            if (scaling != RopeScaling.NONE) {
                factor = positiveNumber(s.required("factor"), s.child("factor"));
                originalMax = nonNegativeInt(s.required("original_max_position"), s.child("original_max_position"));
            }
            Double low = null;
            Double high = null;
            if (scaling == RopeScaling.LLAMA3) {
                low = positiveNumber(s.required("low_freq_factor"), s.child("low_freq_factor"));
                high = positiveNumber(s.required("high_freq_factor"), s.child("high_freq_factor"));
            }
            Double betaFast = null;
            Double betaSlow = null;
            Double attention = null;
            if (scaling == RopeScaling.YARN) {
                betaFast = positiveNumber(s.required("beta_fast"), s.child("beta_fast"));
                betaSlow = positiveNumber(s.required("beta_slow"), s.child("beta_slow"));
                Node a = s.optional("attention_factor");
                attention = a == null || HardenedYaml.isNull(a) ? null : positiveNumber(a, s.child("attention_factor"));
            }
            return new RopeSpec(theta, scaling, factor, originalMax, low, high, betaFast, betaSlow, attention);
        }

        private WeightsSpec weights(Section s) throws BundleFormatException {
            Precision mode = choice(s.required("mode"), s.child("mode"), Precision.values(), Precision::yamlName);
            DType activations = choice(s.required("activations"), s.child("activations"),
                    new DType[] {DType.FLOAT32, DType.FLOAT16}, DType::yamlName);
            Section p = section(s.required("precision"), s.child("precision"));
            RolePrecision precision = new RolePrecision(precisions(p, "embedding"), precisions(p, "layers"),
                    precisions(p, "lm_head"));
            boolean quantized = precision.anyQuantized();
            Node blockNode = s.required("block_size");
            Integer blockSize = null;
            if (quantized) {
                Object b = scalar(blockNode, s.child("block_size"), "a positive integer");
                if (!(b instanceof Integer i) || i <= 0) {
                    throw fail(blockNode, s.child("block_size"),
                            "must be a positive integer when a matrix is quantized (int8/int4), got " + HardenedYaml.describe(blockNode));
                }
                blockSize = i;
            } else if (!HardenedYaml.isNull(blockNode)) {
                throw fail(blockNode, s.child("block_size"),
                        "must be null when no matrix is quantized, got " + HardenedYaml.describe(blockNode));
            }
            boolean exact = bool(s.required("exact_from_source"), s.child("exact_from_source"));
            Node accNode = s.optional("matmul_accuracy");
            String accuracy = "fp32";
            if (accNode != null) {
                accuracy = choice(accNode, s.child("matmul_accuracy"), new String[] {"fp32", "int8"}, x -> x);
            }
            return new WeightsSpec(mode, activations, precision, blockSize, exact, accuracy);
        }

        /** A role's precision: one name ({@code int4}) or several joined by '+' ({@code int4+int8}). */
        private Set<Precision> precisions(Section s, String key) throws BundleFormatException {
            Node node = s.required(key);
            String text = string(node, s.child(key));
            Set<Precision> set = EnumSet.noneOf(Precision.class);
            for (String part : text.split("\\+", -1)) {
                Precision found = null;
                for (Precision p : Precision.values()) {
                    if (p.yamlName().equals(part.strip())) {
                        found = p;
                    }
                }
                if (found == null || !set.add(found)) {
                    throw fail(node, s.child(key), "must be fp32, fp16, int8 or int4, or several of them joined by '+' "
                            + "(such as int4+int8), got " + HardenedYaml.describe(node));
                }
            }
            return set;
        }

        private Map<String, Integer> opsets(Section s, Flavour flavour) throws BundleFormatException {
            Map<String, Integer> opsets = new LinkedHashMap<>();
            for (Map.Entry<String, NodeTuple> e : s.entries.entrySet()) {
                String domain = e.getKey();
                if (domain.isEmpty()) {
                    throw fail(e.getValue().getKeyNode(), s.path, "has an empty domain name");
                }
                Node value = e.getValue().getValueNode();
                opsets.put(domain, positiveInt(value, s.child(domain)));
            }
            s.required("ai.onnx");
            if (flavour == Flavour.ORT && !opsets.containsKey("com.microsoft")) {
                throw fail(s.node, s.child("com.microsoft"),
                        "is missing: the ort flavour uses ONNX Runtime contrib operators");
            }
            if (flavour == Flavour.STANDARD && opsets.containsKey("com.microsoft")) {
                throw fail(s.entries.get("com.microsoft").getKeyNode(), s.child("com.microsoft"),
                        "must be absent for the standard flavour (standard ONNX operators only)");
            }
            return opsets;
        }

        private OrtSpec ort(Section s) throws BundleFormatException {
            Node configNode = s.optional("session_config");
            if (configNode == null || HardenedYaml.isNull(configNode)) {
                return OrtSpec.NONE;
            }
            Section config = section(configNode, s.child("session_config"));
            Map<String, String> entries = new LinkedHashMap<>();
            for (Map.Entry<String, NodeTuple> e : config.entries.entrySet()) {
                if (e.getKey().isBlank()) {
                    throw fail(e.getValue().getKeyNode(), config.path, "has an empty key");
                }
                Node value = e.getValue().getValueNode();
                Object v = scalar(value, config.child(e.getKey()), "a string");
                if (!(v instanceof String || v instanceof Integer)) {
                    throw fail(value, config.child(e.getKey()), "must be a string, got " + HardenedYaml.describe(value));
                }
                entries.put(e.getKey(), v.toString());
            }
            return new OrtSpec(entries);
        }

        private KvCacheSpec kvCache(Section s, ModelDims model, WeightsSpec weights) throws BundleFormatException {
            KvLayout layout = choice(s.required("layout"), s.child("layout"), KvLayout.values(), KvLayout::yamlName);
            Node shapeNode = s.required("shape");
            List<Dim> shape = dims(shapeNode, s.child("shape"));
            boolean headMajor = layout == KvLayout.HEAD_MAJOR_SHARED;
            List<Object> expected = headMajor
                    ? List.of(1L, (long) model.numKvHeads(), "max_seq", (long) model.headDim())
                    : List.of(1L, "max_seq", (long) model.numKvHeads(), (long) model.headDim());
            String want = headMajor
                    ? "[1, " + model.numKvHeads() + ", max_seq, " + model.headDim()
                            + "] ([1, model.num_kv_heads, max_seq, model.head_dim] for " + layout.yamlName() + ")"
                    : "[1, max_seq, " + model.numKvHeads() + ", " + model.headDim()
                            + "] ([1, max_seq, model.num_kv_heads, model.head_dim] for " + layout.yamlName() + ")";
            if (shape.size() != 4) {
                throw fail(shapeNode, s.child("shape"), "must be " + want + ", got " + shape);
            }
            for (int i = 0; i < 4; i++) {
                Dim d = shape.get(i);
                Object e = expected.get(i);
                boolean ok = e instanceof String ? d.isSymbolic() : !d.isSymbolic() && d.size() == (Long) e;
                if (!ok) {
                    throw fail(shapeNode, s.child("shape"), "must be " + want + ", got " + shape);
                }
            }
            Node dtypeNode = s.required("dtype");
            DType dtype = choice(dtypeNode, s.child("dtype"), new DType[] {DType.FLOAT32, DType.FLOAT16}, DType::yamlName);
            // A float16 cache next to float32 activations: GroupQueryAttention (head_major_shared)
            // takes one type for Q/K/V and the cache, so the graphs cast around it; the
            // sequence_major graphs store what they compute.
            boolean halfCache = layout == KvLayout.HEAD_MAJOR_SHARED && dtype == DType.FLOAT16
                    && weights.activations() == DType.FLOAT32;
            if (dtype != weights.activations() && !halfCache) {
                throw fail(dtypeNode, s.child("dtype"), "(" + dtype.yamlName() + ") must equal weights.activations ("
                        + weights.activations().yamlName() + ")" + (layout == KvLayout.HEAD_MAJOR_SHARED
                                ? " or be float16 next to float32 activations" : ""));
            }
            boolean rotated = bool(s.required("keys_rotated"), s.child("keys_rotated"));
            Node scratchNode = s.optional("scratch_rows");
            int scratch = scratchNode == null ? 0 : nonNegativeInt(scratchNode, s.child("scratch_rows"));
            if (scratch > KvCacheSpec.MAX_SCRATCH_ROWS) {
                throw fail(scratchNode, s.child("scratch_rows"), "must be at most " + KvCacheSpec.MAX_SCRATCH_ROWS
                        + ", got " + scratch);
            }
            return new KvCacheSpec(layout, shape, dtype, rotated, scratch);
        }

        /** {@code speculation}: skip_layers (distinct layer indices) and the calibration figures. */
        private SpeculationSpec speculation(Section s, ModelDims model) throws BundleFormatException {
            Node listNode = s.required("skip_layers");
            SequenceNode seq = list(listNode, s.child("skip_layers"));
            List<Integer> layers = new ArrayList<>();
            for (int i = 0; i < seq.getValue().size(); i++) {
                Node n = seq.getValue().get(i);
                String key = s.child("skip_layers") + "[" + i + "]";
                Object v = scalar(n, key, "a layer index");
                if (!(v instanceof Integer l) || l < 0 || l >= model.numLayers()) {
                    throw fail(n, key, "must be a layer index in [0, " + model.numLayers() + "), got " + HardenedYaml.describe(n));
                }
                if (layers.contains(l)) {
                    throw fail(n, key, "layer " + l + " is listed twice");
                }
                layers.add(l);
            }
            double speedup = 0;
            double agreement = 0;
            Node calNode = s.optional("calibration");
            if (calNode != null && !HardenedYaml.isNull(calNode)) {
                Section cal = section(calNode, s.child("calibration"));
                speedup = fraction(cal.optional("estimated_speedup"), cal.child("estimated_speedup"), 1000);
                agreement = fraction(cal.optional("agreement"), cal.child("agreement"), 1);
            }
            java.util.Collections.sort(layers);
            return new SpeculationSpec(layers, speedup, agreement);
        }

        /**
         * {@code draft_heads}: the draft vocabulary file (exact size checked), the draft head and one
         * exit graph per distinct exit layer, each against its contract, and the router tables.
         */
        private DraftHeadsSpec draftHeads(Section s, ModelDims model, WeightsSpec weights, Map<String, Path> listed)
                throws BundleFormatException, IOException {
            if (weights.activations() != DType.FLOAT32) {
                throw fail(s.node, "draft_heads", "needs float32 activations, the bundle has "
                        + weights.activations().yamlName());
            }
            Section vocab = section(s.required("vocab"), s.child("vocab"));
            Node fileNode = vocab.required("file");
            String vocabFile = int32File(vocab, listed);
            Node sizeNode = vocab.required("size");
            int size = positiveInt(sizeNode, vocab.child("size"));
            if (size > model.vocabSize()) {
                throw fail(sizeNode, vocab.child("size"), "is " + size + ", more than the model's vocabulary of "
                        + model.vocabSize());
            }
            long bytes = Files.size(listed.get(vocabFile));
            if (bytes != 4L * size) {
                throw fail(fileNode, vocab.child("file"), "'" + HardenedYaml.clip(vocabFile) + "' has " + bytes + " bytes, expected "
                        + 4L * size + " (" + size + " int32 token ids)");
            }
            Map<String, String> usedBy = new HashMap<>();
            GraphContract contract = GraphContract.of(model, weights.activations(), KvLayout.SEQUENCE_MAJOR); // heads: any layout
            GraphContract.Io headIo = contract.draftHead(size);
            GraphSpec head = graph(section(s.required("head"), s.child("head")), listed, usedBy, headIo.inputs(),
                    headIo.outputs());
            List<TensorSpec> hidden = contract.exitHead().inputs();
            List<TensorSpec> exitOutputs = contract.exitHead().outputs();
            Node exitsNode = s.required("exits");
            SequenceNode list = list(exitsNode, s.child("exits"));
            if (list.getValue().isEmpty()) {
                throw fail(exitsNode, s.child("exits"), "must list at least one exit head");
            }
            List<ExitHeadSpec> exits = new ArrayList<>();
            for (int i = 0; i < list.getValue().size(); i++) {
                String path = s.child("exits") + "[" + i + "]";
                Section e = section(list.getValue().get(i), path);
                Node layerNode = e.required("layer");
                Object layer = scalar(layerNode, e.child("layer"), "a layer count");
                if (!(layer instanceof Integer l) || l < 1 || l >= model.numLayers()) {
                    throw fail(layerNode, e.child("layer"), "must be an exit layer in [1, " + (model.numLayers() - 1)
                            + "], got " + HardenedYaml.describe(layerNode));
                }
                if (exits.stream().anyMatch(x -> x.layer() == l)) {
                    throw fail(layerNode, e.child("layer"), "exit layer " + l + " is listed twice");
                }
                GraphSpec graph = graph(e, listed, usedBy, hidden, exitOutputs);
                double agreement = fraction(e.optional("agreement"), e.child("agreement"), 1);
                double raw = fraction(e.optional("raw_agreement"), e.child("raw_agreement"), 1);
                double speedup = fraction(e.optional("estimated_speedup"), e.child("estimated_speedup"), 1000);
                exits.add(new ExitHeadSpec(l, graph, agreement, raw, speedup, thresholdTable(e, "router"),
                        thresholdTable(e, "confidence"), auc(e, "router"), auc(e, "confidence")));
            }
            exits.sort(java.util.Comparator.comparingInt(ExitHeadSpec::layer));
            Node defNode = s.required("default_exit");
            Object def = scalar(defNode, s.child("default_exit"), "an exit layer");
            if (!(def instanceof Integer d) || exits.stream().noneMatch(x -> x.layer() == d)) {
                throw fail(defNode, s.child("default_exit"), "must be one of the exits' layers, got " + HardenedYaml.describe(defNode));
            }
            // How many held-out tokens the threshold tables count (optional: older bundles lack it).
            int heldOut = 0;
            Node calibNode = s.optional("calibration");
            if (calibNode != null) {
                Section calib = section(calibNode, s.child("calibration"));
                Node testNode = calib.optional("test_tokens");
                heldOut = testNode == null ? 0 : nonNegativeInt(testNode, calib.child("test_tokens"));
            }
            return new DraftHeadsSpec(vocabFile, size, head, d, exits, heldOut);
        }

        /**
         * {@code feature_drafter}: its graph against the contract, the draft vocabulary (the draft
         * heads' own file and size: their logits share one buffer), the measured acceptance and costs.
         */
        private FeatureDrafterSpec featureDrafter(Section s, ModelDims model, WeightsSpec weights, KvCacheSpec kv,
                Map<String, Path> listed, DraftHeadsSpec draftHeads) throws BundleFormatException {
            if (weights.activations() != DType.FLOAT32) {
                throw fail(s.node, "feature_drafter", "needs float32 activations, the bundle has "
                        + weights.activations().yamlName());
            }
            if (draftHeads == null) {
                throw fail(s.node, "feature_drafter", "needs the draft_heads section (its draft vocabulary)");
            }
            Section vocab = section(s.required("vocab"), s.child("vocab"));
            Node fileNode = vocab.required("file");
            String file = listedFile(fileNode, vocab.child("file"), listed);
            if (!file.equals(draftHeads.vocabFile())) {
                throw fail(fileNode, vocab.child("file"), "must be draft_heads' vocabulary '"
                        + HardenedYaml.clip(draftHeads.vocabFile()) + "', got '" + HardenedYaml.clip(file) + "'");
            }
            Node sizeNode = vocab.required("size");
            int size = positiveInt(sizeNode, vocab.child("size"));
            if (size != draftHeads.vocabSize()) {
                throw fail(sizeNode, vocab.child("size"), "is " + size + ", but draft_heads' vocabulary has "
                        + draftHeads.vocabSize() + " tokens");
            }
            GraphContract.Io io = GraphContract.of(model, weights.activations(), kv.dtype(), kv.layout())
                    .featureDrafter(size);
            GraphSpec graph = graph(s, listed, new HashMap<>(), io.inputs(), io.outputs());
            Section measured = section(s.required("measured"), s.child("measured"));
            Node accNode = measured.required("acceptance");
            SequenceNode accList = list(accNode, measured.child("acceptance"));
            if (accList.getValue().isEmpty() || accList.getValue().size() > 64) {
                throw fail(accNode, measured.child("acceptance"), "must list 1 to 64 shares, got "
                        + accList.getValue().size());
            }
            double[] acceptance = new double[accList.getValue().size()];
            for (int i = 0; i < acceptance.length; i++) {
                Node n = accList.getValue().get(i);
                String key = measured.child("acceptance") + "[" + i + "]";
                if (HardenedYaml.isNull(n)) {
                    throw fail(n, key, "must be a number in [0, 1]");
                }
                acceptance[i] = fraction(n, key, 1);
                if (i > 0 && acceptance[i] > acceptance[i - 1]) {
                    throw fail(n, key, "a round accepting " + (i + 1) + " drafts also accepted " + i
                            + ": shares must not grow");
                }
            }
            Node lenNode = measured.required("draft_len");
            int draftLen = positiveInt(lenNode, measured.child("draft_len"));
            if (draftLen > acceptance.length) {
                throw fail(lenNode, measured.child("draft_len"), "is " + draftLen + ", more than the "
                        + acceptance.length + " measured positions");
            }
            double cost = fraction(measured.required("draft_cost"), measured.child("draft_cost"), 1000);
            Node estNode = measured.required("estimated_speedup");
            SequenceNode estList = list(estNode, measured.child("estimated_speedup"));
            if (estList.getValue().size() != acceptance.length) {
                throw fail(estNode, measured.child("estimated_speedup"), "must list one estimate per measured position ("
                        + acceptance.length + "), got " + estList.getValue().size());
            }
            String estKey = measured.child("estimated_speedup") + "[" + (draftLen - 1) + "]";
            double speedup = fraction(estList.getValue().get(draftLen - 1), estKey, 1000);
            return new FeatureDrafterSpec(graph, size, thresholdTable(s, "confidence"), acceptance, draftLen, cost,
                    speedup);
        }

        /** A section's listed {@code file} whose {@code dtype} must be int32. */
        private String int32File(Section s, Map<String, Path> listed) throws BundleFormatException {
            String file = listedFile(s.required("file"), s.child("file"), listed);
            Node dtypeNode = s.required("dtype");
            if (!"int32".equals(scalar(dtypeNode, s.child("dtype"), "int32"))) {
                throw fail(dtypeNode, s.child("dtype"), "must be int32, got " + HardenedYaml.describe(dtypeNode));
            }
            return file;
        }

        /** {@code draft_corpus}: an int32 file of exactly {@code tokens} entries, {@code sequences} answers. */
        private DraftCorpusSpec draftCorpus(Section s, Map<String, Path> listed) throws BundleFormatException, IOException {
            Node fileNode = s.required("file");
            String file = int32File(s, listed);
            Node tokensNode = s.required("tokens");
            int tokens = positiveInt(tokensNode, s.child("tokens"));
            if (tokens > DraftCorpusSpec.MAX_TOKENS) {
                throw fail(tokensNode, s.child("tokens"), "must be at most " + DraftCorpusSpec.MAX_TOKENS + ", got " + tokens);
            }
            Node sequencesNode = s.required("sequences");
            int sequences = positiveInt(sequencesNode, s.child("sequences"));
            if (sequences > tokens) {
                throw fail(sequencesNode, s.child("sequences"), "must be at most tokens (" + tokens + "), got " + sequences);
            }
            long bytes = Files.size(listed.get(file));
            if (bytes != 4L * tokens) {
                throw fail(fileNode, s.child("file"), "'" + HardenedYaml.clip(file) + "' has " + bytes + " bytes, expected "
                        + 4L * tokens + " (tokens x 4)");
            }
            return new DraftCorpusSpec(file, tokens, sequences);
        }

        /** {@code first_routers}: float32 weights file of exactly [num_layers][hidden+1], a skip count, the pooling. */
        private FirstRoutersSpec firstRouters(Section s, ModelDims model, Map<String, Path> listed)
                throws BundleFormatException, IOException {
            Node fileNode = s.required("file");
            String file = listedFile(fileNode, s.child("file"), listed);
            Node dtypeNode = s.required("dtype");
            if (!"float32".equals(scalar(dtypeNode, s.child("dtype"), "float32"))) {
                throw fail(dtypeNode, s.child("dtype"), "must be float32, got " + HardenedYaml.describe(dtypeNode));
            }
            List<Dim> shape = dims(s.required("shape"), s.child("shape"));
            List<Dim> want = List.of(Dim.of(model.numLayers()), Dim.of(model.hiddenSize() + 1));
            if (!shape.equals(want)) {
                throw fail(s.required("shape"), s.child("shape"), "must be " + want + " (num_layers, hidden_size + 1), got "
                        + shape);
            }
            long bytes = Files.size(listed.get(file));
            long expected = 4L * model.numLayers() * (model.hiddenSize() + 1);
            if (bytes != expected) {
                throw fail(fileNode, s.child("file"), "'" + HardenedYaml.clip(file) + "' has " + bytes + " bytes, expected " + expected);
            }
            Node poolingNode = s.required("pooling");
            Object pooling = scalar(poolingNode, s.child("pooling"), "mean_rms_last_N");
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("mean_rms_last_([1-9][0-9]{0,5})")
                    .matcher(String.valueOf(pooling));
            if (!(pooling instanceof String) || !m.matches()) {
                throw fail(poolingNode, s.child("pooling"), "must be mean_rms_last_N, got " + HardenedYaml.describe(poolingNode));
            }
            Node countNode = s.required("skip_count");
            int count = positiveInt(countNode, s.child("skip_count"));
            if (count >= model.numLayers()) {
                throw fail(countNode, s.child("skip_count"), "must be below num_layers " + model.numLayers() + ", got "
                        + count);
            }
            double first = fraction(s.optional("agreement_first"), s.child("agreement_first"), 1);
            double global = fraction(s.optional("agreement_global"), s.child("agreement_global"), 1);
            return new FirstRoutersSpec(file, count, Integer.parseInt(m.group(1)), first, global);
        }

        /** {@code NAME.auc}, a number in [0, 1], or 0 when absent. */
        private double auc(Section exit, String name) throws BundleFormatException {
            Node node = exit.optional(name);
            if (node == null || HardenedYaml.isNull(node)) {
                return 0;
            }
            Section s = section(node, exit.child(name));
            return fraction(s.optional("auc"), s.child("auc"), 1);
        }

        /** {@code KEY.thresholds}: rows {@code [threshold, precision, coverage]}, each in [0, 1], ascending. */
        private List<double[]> thresholdTable(Section exit, String name) throws BundleFormatException {
            Node routerNode = exit.optional(name);
            if (routerNode == null || HardenedYaml.isNull(routerNode)) {
                return List.of();
            }
            Section router = section(routerNode, exit.child(name));
            Node tableNode = router.required("thresholds");
            SequenceNode rows = list(tableNode, router.child("thresholds"));
            List<double[]> table = new ArrayList<>();
            for (int i = 0; i < rows.getValue().size(); i++) {
                String key = router.child("thresholds") + "[" + i + "]";
                SequenceNode row = list(rows.getValue().get(i), key);
                if (row.getValue().size() != 3) {
                    throw fail(row, key, "must be [threshold, precision, coverage], got " + row.getValue().size() + " values");
                }
                double[] values = new double[3];
                for (int j = 0; j < 3; j++) {
                    Node n = row.getValue().get(j);
                    values[j] = fraction(n, key + "[" + j + "]", 1);
                    if (HardenedYaml.isNull(n)) {
                        throw fail(n, key + "[" + j + "]", "must be a number in [0, 1]");
                    }
                }
                if (!table.isEmpty() && values[0] <= table.get(table.size() - 1)[0]) {
                    throw fail(row, key, "thresholds must ascend");
                }
                if (!table.isEmpty() && values[2] > table.get(table.size() - 1)[2]) {
                    throw fail(row, key, "coverage must not grow with the threshold (a share of scores at or above it)");
                }
                table.add(values);
            }
            return table;
        }

        private double fraction(Node node, String key, double max) throws BundleFormatException {
            if (node == null || HardenedYaml.isNull(node)) {
                return 0;
            }
            Object v = scalar(node, key, "a number");
            double d = v instanceof Number n ? n.doubleValue() : Double.NaN;
            if (!(d >= 0 && d <= max)) {
                throw fail(node, key, "must be a number in [0, " + (max == Math.rint(max) ? String.valueOf((long) max)
                        : String.valueOf(max)) + "], got " + HardenedYaml.describe(node));
            }
            return d;
        }

        /** {@code rope_cache}: required (and only allowed) with the head_major_shared layout. */
        private RopeCacheSpec ropeCache(Node node, Node kvNode, KvCacheSpec kv, ModelDims model, WeightsSpec weights,
                Map<String, Path> listed) throws BundleFormatException, IOException {
            boolean wanted = kv.layout() == KvLayout.HEAD_MAJOR_SHARED;
            if (node == null || HardenedYaml.isNull(node)) {
                if (wanted) {
                    throw fail(node == null ? kvNode : node, "rope_cache", "is required with kv_cache.layout " + kv.layout().yamlName()
                                    + " (the layer graphs take its cos/sin tables as input)");
                }
                return null;
            }
            Section s = section(node, "rope_cache");
            if (!wanted) {
                throw fail(node, "rope_cache", "must be null with kv_cache.layout " + kv.layout().yamlName());
            }
            String file = listedFile(s.required("file"), s.child("file"), listed);
            Node dtypeNode = s.required("dtype");
            DType dtype = choice(dtypeNode, s.child("dtype"), new DType[] {DType.FLOAT32, DType.FLOAT16}, DType::yamlName);
            if (dtype != kv.dtype()) {
                throw fail(dtypeNode, s.child("dtype"), "(" + dtype.yamlName() + ") must equal kv_cache.dtype ("
                        + kv.dtype().yamlName() + ")");
            }
            Node shapeNode = s.required("shape");
            List<Dim> shape = dims(shapeNode, s.child("shape"));
            int width = model.headDim() / 2;
            if (shape.size() != 3 || shape.stream().anyMatch(Dim::isSymbolic) || shape.get(0).size() != 2
                    || shape.get(2).size() != width || shape.get(1).size() > Integer.MAX_VALUE) {
                throw fail(shapeNode, s.child("shape"), "must be [2, positions, " + width
                        + "] ([cos|sin, positions, model.head_dim / 2]), got " + shape);
            }
            int positions = (int) shape.get(1).size();
            if (positions < (long) model.maxPosition() + kv.scratchRows()) {
                throw fail(shapeNode, s.child("shape"), "covers " + positions
                        + " positions, fewer than model.max_position + kv_cache.scratch_rows (" + model.maxPosition()
                        + " + " + kv.scratchRows() + ")");
            }
            RopeCacheSpec spec = new RopeCacheSpec(file, dtype, positions, width);
            long size = Files.size(listed.get(file));
            if (size != spec.bytes()) {
                throw fail(s.required("file"), s.child("file"), "'" + HardenedYaml.clip(file) + "' has " + size
                        + " bytes, but shape " + shape + " of " + dtype.yamlName() + " needs " + spec.bytes());
            }
            return spec;
        }

        private TokenizerSpec tokenizer(Section s, ModelDims model, Map<String, Path> listed)
                throws BundleFormatException {
            TokenizerSpec.Kind kind = choice(s.required("kind"), s.child("kind"), TokenizerSpec.Kind.values(),
                    TokenizerSpec.Kind::yamlName);
            String file = listedFile(s.required("file"), s.child("file"), listed);
            Integer bos = optionalTokenId(s.required("bos_id"), s.child("bos_id"), model);
            Node eosNode = s.required("eos_ids");
            SequenceNode eosList = list(eosNode, s.child("eos_ids"));
            List<Integer> eos = new ArrayList<>();
            for (int i = 0; i < eosList.getValue().size(); i++) {
                eos.add(tokenId(eosList.getValue().get(i), s.child("eos_ids") + "[" + i + "]", model));
            }
            Integer pad = optionalTokenId(s.required("pad_id"), s.child("pad_id"), model);
            Integer unk = optionalTokenId(s.required("unk_id"), s.child("unk_id"), model);
            Node addBosNode = s.required("add_bos");
            boolean addBos = bool(addBosNode, s.child("add_bos"));
            if (addBos && bos == null) {
                throw fail(addBosNode, s.child("add_bos"), "is true but tokenizer.bos_id is null");
            }
            Section special = section(s.required("special_tokens"), s.child("special_tokens"));
            Map<String, Integer> specialTokens = new LinkedHashMap<>();
            for (Map.Entry<String, NodeTuple> e : special.entries.entrySet()) {
                if (e.getKey().isEmpty()) {
                    throw fail(e.getValue().getKeyNode(), special.path, "has an empty token text");
                }
                specialTokens.put(e.getKey(), tokenId(e.getValue().getValueNode(), special.child(e.getKey()), model));
            }
            return new TokenizerSpec(kind, file, bos, eos, pad, unk, addBos, specialTokens);
        }

        private GraphsSpec graphs(Section s, ModelDims model, WeightsSpec weights, KvCacheSpec kv,
                Map<String, Path> listed) throws BundleFormatException {
            KvLayout layout = kv.layout();
            GraphContract contract = GraphContract.of(model, weights.activations(), kv.dtype(), layout);
            Map<String, String> usedBy = new HashMap<>();
            Section embedSection = section(s.required("embed"), s.child("embed"));
            GraphSpec embed = graph(embedSection, listed, usedBy, contract.embed().inputs(), contract.embed().outputs());
            Node tableNode = embedSection.optional("table");
            EmbedTableSpec table = tableNode == null || HardenedYaml.isNull(tableNode) ? null
                    : embedTable(section(tableNode, embedSection.child("table")), embed, model, weights, listed);
            Node layersNode = s.required("layers");
            SequenceNode layersList = list(layersNode, s.child("layers"));
            int count = layersList.getValue().size();
            if (count != model.numLayers()) {
                throw fail(layersNode, s.child("layers"), "has " + count + " entries but model.num_layers is "
                        + model.numLayers());
            }
            List<GraphSpec> layers = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                Section layer = section(layersList.getValue().get(i), s.child("layers") + "[" + i + "]");
                Node indexNode = layer.required("index");
                Object index = scalar(indexNode, layer.child("index"), "an integer");
                if (!(index instanceof Integer idx) || idx != i) {
                    throw fail(indexNode, layer.child("index"), "must be " + i
                            + " (layers are listed in order 0.." + (count - 1) + "), got " + HardenedYaml.describe(indexNode));
                }
                layers.add(graph(layer, listed, usedBy, contract.layer().inputs(), contract.layer().outputs()));
            }
            GraphSpec head = graph(section(s.required("head"), s.child("head")), listed, usedBy,
                    contract.head().inputs(), contract.head().outputs());
            List<GraphSpec> kvFill = new ArrayList<>();
            Node fillNode = s.optional("kv_fill");
            if (fillNode != null && !HardenedYaml.isNull(fillNode)) {
                SequenceNode fills = list(fillNode, s.child("kv_fill"));
                if (fills.getValue().size() != model.numLayers()) {
                    throw fail(fillNode, s.child("kv_fill"), "has " + fills.getValue().size()
                            + " entries but model.num_layers is " + model.numLayers());
                }
                for (int i = 0; i < model.numLayers(); i++) {
                    Section fill = section(fills.getValue().get(i), s.child("kv_fill") + "[" + i + "]");
                    Node indexNode = fill.required("index");
                    Object index = scalar(indexNode, fill.child("index"), "an integer");
                    if (!(index instanceof Integer idx) || idx != i) {
                        throw fail(indexNode, fill.child("index"), "must be " + i + ", got " + HardenedYaml.describe(indexNode));
                    }
                    kvFill.add(graph(fill, listed, usedBy, contract.kvFill().inputs(), contract.kvFill().outputs()));
                }
            }
            return new GraphsSpec(embed, layers, head, kvFill, table);
        }

        /** {@code graphs.embed.table}: the embedding graph's own data file, the model's shape. */
        private EmbedTableSpec embedTable(Section s, GraphSpec embed, ModelDims model, WeightsSpec weights,
                Map<String, Path> listed) throws BundleFormatException {
            Node fileNode = s.required("file");
            String file = listedFile(fileNode, s.child("file"), listed);
            String data = embed.file().endsWith(".onnx")
                    ? embed.file().substring(0, embed.file().length() - ".onnx".length()) + ".bin" : null;
            if (!file.equals(data)) {
                throw fail(fileNode, s.child("file"), "must be the embedding graph's data file '" + data + "', got '"
                        + HardenedYaml.clip(file) + "'");
            }
            if (weights.activations() != DType.FLOAT32) {
                throw fail(fileNode, s.child("file"), "a described embedding table needs float32 activations, the bundle "
                        + "has " + weights.activations().yamlName());
            }
            int rows = positiveInt(s, "rows");
            int columns = positiveInt(s, "columns");
            if (rows != model.vocabSize() || columns != model.hiddenSize()) {
                throw fail(s.required("rows"), s.child("rows"), "and columns must be model.vocab_size x hidden_size ("
                        + model.vocabSize() + " x " + model.hiddenSize() + "), got " + rows + " x " + columns);
            }
            TableValues values = choice(s.required("values"), s.child("values"), TableValues.values(),
                    TableValues::yamlName);
            long valuesOffset = nonNegativeLong(s.required("values_offset"), s.child("values_offset"));
            boolean quantized = values.integer();
            Node blockNode = s.optional("block_size");
            if (quantized != (blockNode != null)) {
                throw fail(quantized ? s.required("values") : blockNode, s.child(quantized ? "values" : "block_size"),
                        quantized ? "integer values need block_size and scales_offset"
                                : "float values take no block_size");
            }
            int block = 0;
            long scales = -1;
            long offsets = -1;
            if (quantized) {
                block = positiveInt(blockNode, s.child("block_size"));
                if (columns % block != 0) {
                    throw fail(blockNode, s.child("block_size"), "(" + block + ") must divide columns (" + columns + ")");
                }
                scales = nonNegativeLong(s.required("scales_offset"), s.child("scales_offset"));
                Node offsetsNode = s.optional("offsets_offset");
                offsets = offsetsNode == null ? -1 : nonNegativeLong(offsetsNode, s.child("offsets_offset"));
            }
            return new EmbedTableSpec(file, rows, columns, values, valuesOffset, block, scales, offsets);
        }

        private GraphSpec graph(Section s, Map<String, Path> listed, Map<String, String> usedBy,
                List<TensorSpec> wantInputs, List<TensorSpec> wantOutputs) throws BundleFormatException {
            Node fileNode = s.required("file");
            String file = listedFile(fileNode, s.child("file"), listed);
            String previous = usedBy.putIfAbsent(file, s.child("file"));
            if (previous != null) {
                throw fail(fileNode, s.child("file"), "'" + HardenedYaml.clip(file) + "' is also the file of " + previous);
            }
            List<TensorSpec> inputs = tensors(s.required("inputs"), s.child("inputs"));
            List<TensorSpec> outputs = tensors(s.required("outputs"), s.child("outputs"));
            checkContract(s.required("inputs"), s.child("inputs"), inputs, wantInputs);
            checkContract(s.required("outputs"), s.child("outputs"), outputs, wantOutputs);
            Node dataNode = s.optional("data");
            String data = null;
            if (dataNode != null && !HardenedYaml.isNull(dataNode)) {
                data = listedFile(dataNode, s.child("data"), listed);
                if (data.equals(file) || data.endsWith(".onnx")) {
                    throw fail(dataNode, s.child("data"), "must be a data file other than the graph, got '"
                            + HardenedYaml.clip(data) + "'");
                }
            }
            return new GraphSpec(file, inputs, outputs, data);
        }

        /** Names, dtypes and shapes of a graph's inputs or outputs must be exactly the format's contract. */
        private void checkContract(Node listNode, String path, List<TensorSpec> actual, List<TensorSpec> expected)
                throws BundleFormatException {
            GraphContract.Mismatch m = GraphContract.mismatch(actual, expected);
            if (m == null) {
                return;
            }
            if (m.index() < 0) {
                throw fail(listNode, path, m.problem());
            }
            List<Node> items = ((SequenceNode) listNode).getValue();
            throw fail(items.get(m.index()), path + "[" + m.index() + "]", m.problem());
        }

        private List<TensorSpec> tensors(Node node, String path) throws BundleFormatException {
            SequenceNode seq = list(node, path);
            if (seq.getValue().isEmpty()) {
                throw fail(node, path, "must list at least one tensor");
            }
            List<TensorSpec> tensors = new ArrayList<>();
            Set<String> names = new LinkedHashSet<>();
            for (int i = 0; i < seq.getValue().size(); i++) {
                Section t = section(seq.getValue().get(i), path + "[" + i + "]");
                Node nameNode = t.required("name");
                String name = nonEmptyString(nameNode, t.child("name"));
                if (!names.add(name)) {
                    throw fail(nameNode, t.child("name"), "'" + HardenedYaml.clip(name) + "' is listed twice in " + path);
                }
                DType dtype = choice(t.required("dtype"), t.child("dtype"), DType.values(), DType::yamlName);
                List<Dim> shape = dims(t.required("shape"), t.child("shape"));
                tensors.add(new TensorSpec(name, dtype, shape));
            }
            return tensors;
        }

        /** Checks every {@code files} entry: path syntax, hash syntax, and that it is a file inside the bundle. */
        private Map<String, Path> files(Section s) throws BundleFormatException, IOException {
            Map<String, Path> resolved = new LinkedHashMap<>();
            for (Map.Entry<String, NodeTuple> e : s.entries.entrySet()) {
                String rel = e.getKey();
                Node keyNode = e.getValue().getKeyNode();
                String key = s.child(rel);
                checkRelativePath(keyNode, key, rel);
                if (rel.equals(BundleManifest.MANIFEST_FILE)) {
                    throw fail(keyNode, key, "must not be listed (the manifest cannot hold its own hash)");
                }
                sha256(e.getValue().getValueNode(), key);
                resolved.put(rel, confined(keyNode, key, rel));
            }
            return resolved;
        }

        private Path confined(Node at, String key, String rel) throws BundleFormatException, IOException {
            try {
                return BundleFiles.confined(root, rel);
            } catch (BundleFiles.Problem e) {
                throw fail(at, key, e.getMessage());
            }
        }

        private void verify(Section s, Map<String, String> files, Map<String, Path> listed)
                throws BundleFormatException, IOException {
            for (Map.Entry<String, String> e : files.entrySet()) {
                String actual = BundleFiles.sha256(listed.get(e.getKey()));
                if (!actual.equals(e.getValue())) {
                    Node at = s.entries.get(e.getKey()).getKeyNode();
                    throw fail(at, s.child(e.getKey()), "sha256 mismatch: the manifest says " + e.getValue()
                            + ", the file has " + actual + " (file changed or corrupted; re-export the bundle)");
                }
            }
        }
    }
}
