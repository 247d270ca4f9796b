package dev.skipper.bundle;

import dev.skipper.api.BundleFormatException;
import dev.skipper.bundle.BundleManifest.DType;
import dev.skipper.bundle.BundleManifest.Dim;
import dev.skipper.bundle.BundleManifest.Flavour;
import dev.skipper.bundle.BundleManifest.GraphSpec;
import dev.skipper.bundle.BundleManifest.Precision;
import dev.skipper.bundle.BundleManifest.RopeScaling;
import dev.skipper.bundle.BundleManifest.TokenizerSpec;
import dev.skipper.testing.FixtureBundle;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class BundleManifestReaderTest {

    @TempDir
    Path tmp;

    /** A fresh copy of the 2-layer fixture bundle ({@link FixtureBundle}). */
    Path bundle;

    @BeforeEach
    void copyFixture() {
        bundle = FixtureBundle.copyTo(tmp.resolve("bundle"));
    }

    private Path manifest() {
        return bundle.resolve("manifest.yaml");
    }

    /** Replaces the one occurrence of {@code from} in the manifest. */
    private void edit(String from, String to) throws IOException {
        String text = Files.readString(manifest());
        int at = text.indexOf(from);
        assertTrue(at >= 0, "fixture has no '" + from + "'");
        assertEquals(-1, text.indexOf(from, at + 1), "fixture has '" + from + "' more than once");
        Files.writeString(manifest(), text.substring(0, at) + to + text.substring(at + from.length()));
    }

    /** Replaces the first occurrence of {@code from} after {@code anchor} in the manifest. */
    private void editAfter(String anchor, String from, String to) throws IOException {
        String text = Files.readString(manifest());
        int start = text.indexOf(anchor);
        assertTrue(start >= 0, "fixture has no '" + anchor + "'");
        int at = text.indexOf(from, start);
        assertTrue(at >= 0, "fixture has no '" + from + "' after '" + anchor + "'");
        Files.writeString(manifest(), text.substring(0, at) + to + text.substring(at + from.length()));
    }

    private BundleFormatException fails(boolean verify) {
        BundleFormatException e = assertThrows(BundleFormatException.class,
                () -> BundleManifestReader.read(bundle, verify));
        assertFalse(e.getMessage().contains("\n"), "message must be one line: " + e.getMessage());
        assertTrue(e.getMessage().startsWith(e.file().toString()), e.getMessage());
        return e;
    }

    private BundleFormatException fails() {
        return fails(false);
    }

    private static void assertContains(String haystack, String needle) {
        assertTrue(haystack.contains(needle), "expected '" + needle + "' in: " + haystack);
    }

    // ---- happy path ---------------------------------------------------------------------------

    @Test
    void readsTheFixture() throws Exception {
        BundleManifest m = BundleManifestReader.read(bundle, true);

        assertEquals(bundle.toRealPath(), m.directory());
        assertEquals("skipper-bundle", m.format());
        assertEquals(1, m.formatVersion());
        assertEquals("skipper_export 0.1.0", m.producer());
        assertEquals("gguf", m.source().format());
        assertEquals("SmolLM2-135M-Instruct.Q4_1.gguf", m.source().name());
        assertEquals(64, m.source().sha256().length());

        BundleManifest.ModelDims d = m.model();
        assertEquals("llama", d.architecture());
        assertEquals(2, d.numLayers());
        assertEquals(576, d.hiddenSize());
        assertEquals(1536, d.intermediateSize());
        assertEquals(9, d.numHeads());
        assertEquals(3, d.numKvHeads());
        assertEquals(64, d.headDim());
        assertEquals(49152, d.vocabSize());
        assertEquals(8192, d.maxPosition());
        assertEquals(1e-5, d.rmsNormEps(), 1e-12);
        assertEquals(100000.0, d.rope().theta());
        assertEquals(RopeScaling.NONE, d.rope().scaling());
        assertNull(d.rope().factor());
        assertTrue(d.tieWordEmbeddings());
        assertFalse(d.attentionBias());

        assertEquals(Precision.INT4, m.weights().mode());
        assertEquals(DType.FLOAT32, m.weights().activations());
        assertEquals(Set.of(Precision.INT8), m.weights().precision().embedding());
        assertEquals(Set.of(Precision.INT4), m.weights().precision().layers());
        assertEquals(Set.of(Precision.INT8), m.weights().precision().lmHead());
        assertEquals(32, m.weights().blockSize());
        assertTrue(m.weights().exactFromSource());
        assertEquals("int8", m.weights().matmulAccuracy());

        assertEquals(Flavour.ORT, m.flavour());
        assertEquals(Map.of("ai.onnx", 21, "com.microsoft", 1), m.opsets());
        assertEquals(Map.of("session.qdq_matmulnbits_accuracy_level", "0"), m.onnxruntime().sessionConfig());

        assertEquals(BundleManifest.KvLayout.SEQUENCE_MAJOR, m.kvCache().layout());
        assertEquals(List.of(Dim.of(1), Dim.of("max_seq"), Dim.of(3), Dim.of(64)), m.kvCache().shape());
        assertEquals(DType.FLOAT32, m.kvCache().dtype());
        assertTrue(m.kvCache().keysRotated());
        assertEquals(0, m.kvCache().scratchRows(), "older manifests have no scratch rows");

        TokenizerSpec t = m.tokenizer();
        assertEquals(TokenizerSpec.Kind.BPE, t.kind());
        assertEquals("tokenizer.json", t.file());
        assertEquals(1, t.bosId());
        assertEquals(List.of(2), t.eosIds());
        assertEquals(2, t.padId());
        assertEquals(0, t.unkId());
        assertFalse(t.addBos());
        assertEquals(List.of("<|endoftext|>", "<|im_start|>", "<|im_end|>"), List.copyOf(t.specialTokens().keySet()));
        assertEquals(2, t.specialTokens().get("<|im_end|>"));

        String template = m.chatTemplateIfAny().orElseThrow();
        assertTrue(template.startsWith("{% for message in messages %}"), template);
        assertContains(template, "'<|im_start|>system\nYou are a helpful AI assistant");

        assertEquals("embed.onnx", m.graphs().embed().file());
        assertEquals(DType.INT64, m.graphs().embed().inputs().get(0).dtype());
        assertEquals("head.onnx", m.graphs().head().file());
        assertEquals(List.of(Dim.of(1), Dim.of("seq"), Dim.of(49152)),
                m.graphs().head().output("logits").orElseThrow().shape());
        assertEquals(2, m.graphs().layers().size());
        GraphSpec layer1 = m.graphs().layers().get(1);
        assertEquals("layers/layer_1.onnx", layer1.file());
        assertEquals(List.of("hidden", "position_ids", "past_key", "past_value"),
                layer1.inputs().stream().map(BundleManifest.TensorSpec::name).toList());
        assertEquals(List.of(Dim.of(1), Dim.of("past"), Dim.of(3), Dim.of(64)),
                layer1.input("past_key").orElseThrow().shape());
        assertEquals("[1, past, 3, 64]", layer1.input("past_key").orElseThrow().shape().toString());

        assertEquals(List.of("embed.onnx", "head.onnx", "layers/layer_0.onnx", "layers/layer_1.onnx", "tokenizer.json"),
                List.copyOf(m.files().keySet()));
        assertTrue(Files.isRegularFile(m.resolve(layer1.file())));
        assertThrows(UnsupportedOperationException.class, () -> m.files().put("x", "y"));
    }

    @Test
    void readsACalibratedSpeculationSection() throws Exception {
        assertNull(BundleManifestReader.read(bundle, true).speculation());
        edit("tokenizer:\n", "speculation:\n  skip_layers: [1, 0]\n  calibration: {agreement: 0.84, estimated_speedup: 0.86}\n"
                + "tokenizer:\n");
        BundleManifest.SpeculationSpec s = BundleManifestReader.read(bundle, true).speculation();
        assertEquals(List.of(0, 1), s.skipLayers());
        assertEquals(0.86, s.estimatedSpeedup(), 1e-12);
        assertEquals(0.84, s.agreement(), 1e-12);
        edit("  skip_layers: [1, 0]\n", "  skip_layers: [1, 2]\n");
        BundleFormatException e = fails();
        assertContains(e.getMessage(), "speculation.skip_layers[1] must be a layer index in [0, 2), got 2");
        edit("  skip_layers: [1, 2]\n", "  skip_layers: [1, 1]\n");
        assertContains(fails().getMessage(), "layer 1 is listed twice");
    }

    /** Writes draft/ files and a draft_heads section (hashes listed, but read without verification). */
    private void addDraftHeads(int vocabBytes) throws IOException {
        Files.createDirectories(bundle.resolve("draft"));
        Files.write(bundle.resolve("draft/vocab.i32"), new byte[vocabBytes]);
        Files.writeString(bundle.resolve("draft/head.onnx"), "x");
        Files.writeString(bundle.resolve("draft/exit_1.onnx"), "x");
        String sha = "a".repeat(64);
        edit("files: {", "files: {draft/vocab.i32: " + sha + ", draft/head.onnx: " + sha + ", draft/exit_1.onnx: "
                + sha + ", ");
        String hidden = "    inputs:\n    - {name: hidden, dtype: float32, shape: [1, seq, 576]}\n";
        edit("tokenizer:\n", "draft_heads:\n  vocab: {file: draft/vocab.i32, dtype: int32, size: 4}\n"
                + "  head:\n    file: draft/head.onnx\n" + hidden.replace("    ", "    ")
                + "    outputs:\n    - {name: logits, dtype: float32, shape: [1, seq, 4]}\n"
                + "  default_exit: 1\n  exits:\n  - file: draft/exit_1.onnx\n    layer: 1\n    agreement: 0.5\n"
                + "    raw_agreement: 0.25\n    estimated_speedup: 0.9\n"
                + "    router: {auc: 0.8, thresholds: [[0.25, 0.6, 0.9], [0.5, 0.8, 0.5], [0.75, 0.95, 0.1]]}\n"
                + hidden + "    outputs:\n    - {name: hidden_out, dtype: float32, shape: [1, seq, 576]}\n"
                + "    - {name: accept_prob, dtype: float32, shape: [1, seq]}\ntokenizer:\n");
    }

    @Test
    void readsADraftHeadsSection() throws Exception {
        assertNull(BundleManifestReader.read(bundle, false).draftHeads());
        addDraftHeads(16);
        BundleManifest.DraftHeadsSpec d = BundleManifestReader.read(bundle, false).draftHeads();
        assertEquals(4, d.vocabSize());
        assertEquals(1, d.defaultExit());
        BundleManifest.ExitHeadSpec e = d.defaultHead();
        assertEquals("draft/exit_1.onnx", e.graph().file());
        assertEquals(0.5, e.agreement(), 1e-12);
        assertEquals(0.25, e.rawAgreement(), 1e-12);
        assertEquals(3, e.router().size());
        assertArrayEquals(new double[] {0.5, 0.8, 0.5}, e.router().get(1));
        assertEquals(0.8, e.routerAuc(), 1e-12);
        assertEquals(0, d.heldOutTokens(), "no calibration record: unknown");
        edit("  default_exit: 1\n", "  default_exit: 1\n  calibration: {tokens: 5550, test_tokens: 1106, seed: 0}\n");
        assertEquals(1106, BundleManifestReader.read(bundle, false).draftHeads().heldOutTokens());
        edit("test_tokens: 1106", "test_tokens: -3");
        assertContains(fails().getMessage(), "draft_heads.calibration.test_tokens");
    }

    @Test
    void rejectsBadDraftHeads() throws Exception {
        addDraftHeads(12);
        assertContains(fails().getMessage(), "draft_heads.vocab.file 'draft/vocab.i32' has 12 bytes, expected 16");
        Files.write(bundle.resolve("draft/vocab.i32"), new byte[16]);
        edit("  default_exit: 1\n", "  default_exit: 0\n");
        assertContains(fails().getMessage(), "draft_heads.default_exit must be one of the exits' layers, got 0");
        edit("  default_exit: 0\n", "  default_exit: 1\n");
        edit("    layer: 1\n", "    layer: 2\n");
        assertContains(fails().getMessage(), "draft_heads.exits[0].layer must be an exit layer in [1, 1], got 2");
        edit("    layer: 2\n", "    layer: 1\n");
        edit("[0.5, 0.8, 0.5]", "[0.2, 0.8, 0.5]");
        assertContains(fails().getMessage(), "draft_heads.exits[0].router.thresholds[1] thresholds must ascend");
        edit("[0.2, 0.8, 0.5]", "[0.5, 0.8, 0.95]");
        assertContains(fails().getMessage(), "draft_heads.exits[0].router.thresholds[1] coverage must not grow");
        edit("[0.5, 0.8, 0.95]", "[0.5, 1.8, 0.5]");
        assertContains(fails().getMessage(), "must be a number in [0, 1], got 1.8");
        edit("[0.5, 1.8, 0.5]", "[0.5, 0.8, 0.5]");
        edit("shape: [1, seq, 4]", "shape: [1, seq, 5]");
        assertContains(fails().getMessage(), "'logits' must be float32 [1, seq, 4]");
    }

    /** Adds an embed.bin (listed) and the embed graph's table description to the fixture. */
    private void addEmbedTable(String table) throws IOException {
        Files.write(bundle.resolve("embed.bin"), new byte[16]);
        edit("files: {embed.onnx:", "files: {embed.bin: " + "a".repeat(64) + ", embed.onnx:");
        editAfter("  embed:\n", "    file: embed.onnx\n", "    file: embed.onnx\n    table: " + table + "\n");
    }

    @Test
    void readsAndChecksTheEmbeddingTable() throws Exception {
        String good = "{file: embed.bin, rows: 49152, columns: 576, values: int8, values_offset: 0, block_size: 32, "
                + "scales_offset: 28311552}";
        addEmbedTable(good);
        BundleManifest.EmbedTableSpec t = BundleManifestReader.read(bundle, false).graphs().embedTable();
        assertEquals(new BundleManifest.EmbedTableSpec("embed.bin", 49152, 576, BundleManifest.TableValues.INT8, 0, 32,
                28311552L, -1), t);
        assertEquals(576, t.valueRowBytes());
        assertEquals(18, t.blocks());
        edit("rows: 49152", "rows: 49151");
        assertContains(fails().getMessage(), "graphs.embed.table.rows and columns must be model.vocab_size x hidden_size "
                + "(49152 x 576), got 49151 x 576");
        edit("rows: 49151", "rows: 49152");
        edit("values: int8", "values: int4");
        assertContains(fails().getMessage(), "graphs.embed.table.values must be one of int8, uint8, biased_int8, "
                + "float16, float32");
        edit("values: int4", "values: biased_int8");
        assertEquals(BundleManifest.TableValues.BIASED_INT8,
                BundleManifestReader.read(bundle, false).graphs().embedTable().values());
        edit("values: biased_int8", "values: int4");
        edit("values: int4", "values: float32");
        assertContains(fails().getMessage(), "graphs.embed.table.block_size float values take no block_size");
        edit("values: float32", "values: int8");
        edit(" block_size: 32,", " block_size: 7,");
        assertContains(fails().getMessage(), "graphs.embed.table.block_size (7) must divide columns (576)");
        edit(" block_size: 7,", " block_size: 32,");
        edit("values_offset: 0", "values_offset: -64");
        assertContains(fails().getMessage(), "graphs.embed.table.values_offset must be an integer >= 0");
        edit("values_offset: -64", "values_offset: 0");
        edit("table: {file: embed.bin", "table: {file: head.onnx");
        assertContains(fails().getMessage(), "graphs.embed.table.file must be the embedding graph's data file 'embed.bin'");
        edit("table: {file: head.onnx", "table: {file: tokenizer.json");
        assertContains(fails().getMessage(), "graphs.embed.table.file must be the embedding graph's data file");
    }

    @Test
    void aGraphMayNameAnotherGraphsDataFile() throws Exception {
        addEmbedTable("{file: embed.bin, rows: 49152, columns: 576, values: biased_int8, values_offset: 0, "
                + "block_size: 32, scales_offset: 28311552}");
        BundleManifest before = BundleManifestReader.read(bundle, false);
        assertNull(before.graphs().head().data());
        assertEquals(java.util.Optional.empty(), before.externalData("head.onnx"));
        assertEquals(java.util.Optional.of("embed.bin"), before.externalData("embed.onnx"));
        editAfter("  head:\n", "    file: head.onnx\n", "    file: head.onnx\n    data: embed.bin\n");
        BundleManifest m = BundleManifestReader.read(bundle, false);
        assertEquals("embed.bin", m.graphs().head().data());
        assertEquals(java.util.Optional.of("embed.bin"), m.externalData("head.onnx"));
        edit("    data: embed.bin\n", "    data: missing.bin\n");
        assertContains(fails().getMessage(), "graphs.head.data");
        edit("    data: missing.bin\n", "    data: head.onnx\n");
        assertContains(fails().getMessage(), "graphs.head.data must be a data file other than the graph, got 'head.onnx'");
    }

    @Test
    void readsAndChecksFirstRouters() throws Exception {
        Files.createDirectories(bundle.resolve("draft"));
        Files.write(bundle.resolve("draft/first_routers.f32"), new byte[4 * 2 * 577]);
        edit("files: {", "files: {draft/first_routers.f32: " + "b".repeat(64) + ", ");
        edit("tokenizer:\n", "first_routers: {file: draft/first_routers.f32, dtype: float32, shape: [2, 577], "
                + "pooling: mean_rms_last_64, skip_count: 1, agreement_first: 0.8, agreement_global: 0.75}\ntokenizer:\n");
        BundleManifest.FirstRoutersSpec f = BundleManifestReader.read(bundle, false).firstRouters();
        assertEquals(1, f.skipCount());
        assertEquals(64, f.poolRows());
        assertEquals(0.8, f.agreementFirst(), 1e-12);
        edit("skip_count: 1", "skip_count: 2");
        assertContains(fails().getMessage(), "first_routers.skip_count must be below num_layers 2, got 2");
        edit("skip_count: 2", "skip_count: 1");
        edit("shape: [2, 577]", "shape: [2, 576]");
        assertContains(fails().getMessage(), "first_routers.shape must be [2, 577]");
        edit("shape: [2, 576]", "shape: [2, 577]");
        edit("pooling: mean_rms_last_64", "pooling: max");
        assertContains(fails().getMessage(), "first_routers.pooling must be mean_rms_last_N, got 'max'");
        edit("pooling: max", "pooling: mean_rms_last_64");
        Files.write(bundle.resolve("draft/first_routers.f32"), new byte[8]);
        assertContains(fails().getMessage(), "has 8 bytes, expected 4616");
    }

    @Test
    void readsAndChecksTheDraftCorpus() throws Exception {
        Files.createDirectories(bundle.resolve("draft"));
        Files.write(bundle.resolve("draft/corpus.i32"), new byte[4 * 10]);
        edit("files: {", "files: {draft/corpus.i32: " + "c".repeat(64) + ", ");
        edit("tokenizer:\n", "draft_corpus: {file: draft/corpus.i32, dtype: int32, tokens: 10, sequences: 2, "
                + "source: calibration}\ntokenizer:\n");
        BundleManifest.DraftCorpusSpec c = BundleManifestReader.read(bundle, false).draftCorpus();
        assertEquals(new BundleManifest.DraftCorpusSpec("draft/corpus.i32", 10, 2), c);
        edit("sequences: 2", "sequences: 11");
        assertContains(fails().getMessage(), "draft_corpus.sequences must be at most tokens (10), got 11");
        edit("sequences: 11", "sequences: 2");
        edit("dtype: int32, tokens", "dtype: int64, tokens");
        assertContains(fails().getMessage(), "draft_corpus.dtype must be int32");
        edit("dtype: int64, tokens", "dtype: int32, tokens");
        edit("tokens: 10,", "tokens: 1048577,");
        assertContains(fails().getMessage(), "draft_corpus.tokens must be at most 1048576, got 1048577");
        edit("tokens: 1048577,", "tokens: 10,");
        Files.write(bundle.resolve("draft/corpus.i32"), new byte[6]);
        assertContains(fails().getMessage(), "has 6 bytes, expected 40 (tokens x 4)");
        edit("draft_corpus: {file: draft/corpus.i32, dtype: int32, tokens: 10, sequences: 2, source: calibration}\n", "");
        assertNull(BundleManifestReader.read(bundle, false).draftCorpus(), "a bundle without a corpus still reads");
    }

    @Test
    void acceptsNullChatTemplateAndNoSourceHash() throws Exception {
        String text = Files.readString(manifest());
        int start = text.indexOf("chat_template: '");
        int end = text.indexOf("\ngraphs:");
        Files.writeString(manifest(), text.substring(0, start) + "chat_template: null" + text.substring(end));
        edit(", sha256: b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53}", "}");
        BundleManifest m = BundleManifestReader.read(bundle, true);
        assertNull(m.chatTemplate());
        assertTrue(m.chatTemplateIfAny().isEmpty());
        assertNull(m.source().sha256());
    }

    @Test
    void acceptsAFewAliases() throws Exception {
        editAfter("  - file: layers/layer_0.onnx", "    - name: past_key\n      dtype: float32\n      shape: [1, past, 3, 64]\n",
                "    - name: past_key\n      dtype: float32\n      shape: &kv [1, past, 3, 64]\n");
        editAfter("  - file: layers/layer_0.onnx", "    - name: past_value\n      dtype: float32\n      shape: [1, past, 3, 64]\n",
                "    - name: past_value\n      dtype: float32\n      shape: *kv\n");
        BundleManifest m = BundleManifestReader.read(bundle, false);
        assertEquals(List.of(Dim.of(1), Dim.of("past"), Dim.of(3), Dim.of(64)),
                m.graphs().layers().get(0).input("past_value").orElseThrow().shape());
    }

    @Test
    void acceptsOlderManifestWithoutMatmulAccuracy() throws Exception {
        edit("  matmul_accuracy: int8\n", "");
        assertEquals("fp32", BundleManifestReader.read(bundle, false).weights().matmulAccuracy());
    }

    @Test
    void onnxruntimeSectionIsOptional() throws Exception {
        edit("onnxruntime:\n  session_config: {session.qdq_matmulnbits_accuracy_level: '0'}\n", "");
        assertEquals(Map.of(), BundleManifestReader.read(bundle, false).onnxruntime().sessionConfig());
        edit("flavour: ort\n", "flavour: ort\nonnxruntime: {session_config: {a.b: x, c.d: 4}}\n");
        assertEquals(List.of(Map.entry("a.b", "x"), Map.entry("c.d", "4")),
                List.copyOf(BundleManifestReader.read(bundle, false).onnxruntime().sessionConfig().entrySet()));
    }

    @Test
    void acceptsMixedPrecisionRoles() throws Exception {
        edit("layers: int4, lm_head", "layers: int4+int8, lm_head");
        assertEquals(Set.of(Precision.INT4, Precision.INT8),
                BundleManifestReader.read(bundle, false).weights().precision().layers());
    }

    @Test
    void acceptsRopeScalingParameters() throws Exception {
        edit("rope: {theta: 100000.0, scaling: none}",
                "rope: {theta: 500000.0, scaling: llama3, factor: 8.0, original_max_position: 8192, "
                        + "low_freq_factor: 1.0, high_freq_factor: 4.0}");
        BundleManifest.RopeSpec rope = BundleManifestReader.read(bundle, false).model().rope();
        assertEquals(RopeScaling.LLAMA3, rope.scaling());
        assertEquals(8.0, rope.factor());
        assertEquals(8192, rope.originalMaxPosition());
        assertEquals(4.0, rope.highFreqFactor());
        assertNull(rope.betaFast());
        edit("scaling: llama3, factor: 8.0, original_max_position: 8192, low_freq_factor: 1.0, high_freq_factor: 4.0}",
                "scaling: yarn, factor: 4.0, original_max_position: 4096, beta_fast: 32.0, beta_slow: 1.0, "
                        + "attention_factor: null}");
        rope = BundleManifestReader.read(bundle, false).model().rope();
        assertEquals(RopeScaling.YARN, rope.scaling());
        assertEquals(32.0, rope.betaFast());
        assertNull(rope.attentionFactor());
        assertNull(rope.lowFreqFactor());
    }

    @Test
    void acceptsSymlinkInsideTheBundle() throws Exception {
        Path target = bundle.resolve("layers/layer_1.onnx");
        Path real = bundle.resolve("layers/real_1.onnx");
        Files.move(target, real);
        symlinkOrSkip(target, Path.of("real_1.onnx"));
        BundleManifestReader.read(bundle, true);
    }

    // ---- YAML-level attacks and errors ----------------------------------------------------------

    @Test
    void rejectsDuplicateTopLevelKey() throws Exception {
        edit("producer: skipper_export 0.1.0\n", "producer: skipper_export 0.1.0\nproducer: someone else\n");
        BundleFormatException e = fails();
        assertContains(e.getMessage(), "producer appears twice");
        assertEquals(4, e.line());
    }

    @Test
    void rejectsDuplicateNestedKey() throws Exception {
        edit("  num_layers: 2\n", "  num_layers: 2\n  num_layers: 30\n");
        BundleFormatException e = fails();
        assertContains(e.getMessage(), "model.num_layers appears twice");
        assertTrue(e.line() > 0);
    }

    @Test
    void rejectsAliasBomb() throws Exception {
        StringBuilder yaml = new StringBuilder("format: skipper-bundle\nformat_version: 1\n");
        yaml.append("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for (int i = 1; i < 10; i++) {
            String prev = "*a" + (i - 1);
            yaml.append("a").append(i).append(": &a").append(i).append(" [")
                    .append(String.join(", ", java.util.Collections.nCopies(9, prev))).append("]\n");
        }
        Files.writeString(manifest(), yaml);
        BundleFormatException e = assertTimeoutPreemptively(Duration.ofSeconds(10), () -> fails());
        assertContains(e.getMessage(), "aliases");
    }

    @Test
    void rejectsDeepNesting() throws Exception {
        Files.writeString(manifest(), "format: skipper-bundle\nformat_version: 1\nx: " + "[".repeat(50)
                + "]".repeat(50) + "\n");
        assertContains(fails().getMessage(), "invalid YAML: Nesting Depth exceeded max 20");
    }

    @Test
    void rejectsHugeManifest() throws Exception {
        edit("producer: skipper_export 0.1.0", "producer: " + "x".repeat(BundleManifestReader.MAX_CODE_POINTS));
        assertContains(fails().getMessage(), "exceeds the limit");
    }

    @Test
    void rejectsHugeManifestFileBeforeParsing() throws Exception {
        try (var out = Files.newBufferedWriter(manifest(), StandardOpenOption.APPEND)) {
            String line = "#" + "x".repeat(1023) + "\n";
            for (int i = 0; i < 16 * 1024 + 1; i++) {
                out.write(line);
            }
        }
        assertContains(fails().getMessage(), "manifest.yaml: too large");
    }

    @Test
    void rejectsUnsafeTag() throws Exception {
        edit("producer: skipper_export 0.1.0", "producer: !!javax.script.ScriptEngineManager [x]");
        BundleFormatException e = fails();
        assertContains(e.getMessage(), "invalid YAML");
        assertEquals(3, e.line());
    }

    @Test
    void rejectsMalformedYaml() throws Exception {
        edit("  num_layers: 2\n", "  num_layers: [2\n");
        BundleFormatException e = fails();
        assertContains(e.getMessage(), "invalid YAML");
        assertTrue(e.line() > 0);
    }

    @Test
    void rejectsInvalidUtf8() throws Exception {
        byte[] bytes = Files.readAllBytes(manifest());
        byte[] broken = new byte[bytes.length + 2];
        System.arraycopy(bytes, 0, broken, 0, bytes.length);
        broken[bytes.length] = '#';
        broken[bytes.length + 1] = (byte) 0xff;
        Files.write(manifest(), broken);
        assertContains(fails().getMessage(), "manifest.yaml: not valid UTF-8");
    }

    @Test
    void rejectsMissingManifestAndNonDirectory() throws Exception {
        Files.delete(manifest());
        assertContains(fails().getMessage(), "manifest.yaml: not found");
        Path file = bundle.resolve("embed.onnx");
        BundleFormatException e = assertThrows(BundleFormatException.class, () -> BundleManifestReader.read(file, false));
        assertContains(e.getMessage(), ": not a directory");
    }

    // ---- schema errors ----------------------------------------------------------------------------

    @Test
    void badValueMessageNamesFileLineAndKey() throws Exception {
        edit("  num_layers: 2\n", "  num_layers: -1\n");
        BundleFormatException e = fails();
        assertEquals(manifest() + ":8: model.num_layers must be a positive integer, got -1", e.getMessage());
        assertEquals(8, e.line());
        assertEquals("model.num_layers", e.keyPath());
        assertEquals("must be a positive integer, got -1", e.problem());
        assertEquals(manifest(), e.file());
    }

    static Stream<Arguments> badValues() {
        return Stream.of(
                Arguments.of("  num_layers: 2\n", "  num_layers: two\n", "model.num_layers", "must be a positive integer, got 'two'"),
                Arguments.of("  num_layers: 2\n", "  num_layers: 2.5\n", "model.num_layers", "must be a positive integer, got 2.5"),
                Arguments.of("  num_layers: 2\n", "  num_layers: 99999999999\n", "model.num_layers", "must be a positive integer"),
                Arguments.of("  hidden_size: 576\n", "  hidden_size: [576]\n", "model.hidden_size", "must be a positive integer, got a list"),
                Arguments.of("  num_kv_heads: 3\n", "  num_kv_heads: 4\n", "model.num_kv_heads", "(4) must divide model.num_heads (9)"),
                Arguments.of("  rms_norm_eps: 9.999999747378752e-06\n", "  rms_norm_eps: 0\n", "model.rms_norm_eps", "must be a positive number, got 0"),
                Arguments.of("  tie_word_embeddings: true\n", "  tie_word_embeddings: 'true'\n", "model.tie_word_embeddings", "must be true or false, got 'true'"),
                Arguments.of("scaling: none}", "scaling: ntk}", "model.rope.scaling", "must be one of none, linear, llama3, yarn, got 'ntk'"),
                Arguments.of("scaling: none}", "scaling: linear}", "model.rope.factor", "is missing"),
                Arguments.of("format: skipper-bundle\n", "format: other-bundle\n", "format", "must be 'skipper-bundle', got 'other-bundle'"),
                Arguments.of("format_version: 1\n", "format_version: '1'\n", "format_version", "must be an integer, got '1'"),
                Arguments.of("producer: skipper_export 0.1.0\n", "producer: ''\n", "producer", "must not be empty"),
                Arguments.of("source: {format: gguf, name: SmolLM2-135M-Instruct.Q4_1.gguf, sha256: b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53}",
                        "source: 5", "source", "must be a mapping, got 5"),
                Arguments.of("  mode: int4\n", "  mode: int3\n", "weights.mode", "must be one of fp32, fp16, int8, int4, got 'int3'"),
                Arguments.of("  block_size: 32\n", "  block_size: null\n", "weights.block_size", "must be a positive integer when a matrix is quantized"),
                Arguments.of("  matmul_accuracy: int8\n", "  matmul_accuracy: int16\n", "weights.matmul_accuracy", "must be one of fp32, int8"),
                Arguments.of("flavour: ort\n", "flavour: tensorrt\n", "flavour", "must be one of ort, standard, got 'tensorrt'"),
                Arguments.of("flavour: ort\n", "flavour: standard\n", "opsets[com.microsoft]", "must be absent for the standard flavour"),
                Arguments.of("opsets: {ai.onnx: 21, com.microsoft: 1}", "opsets: {ai.onnx: 21}", "opsets[com.microsoft]", "is missing: the ort flavour"),
                Arguments.of("opsets: {ai.onnx: 21, com.microsoft: 1}", "opsets: {ai.onnx: x, com.microsoft: 1}", "opsets[ai.onnx]", "must be a positive integer, got 'x'"),
                Arguments.of("accuracy_level: '0'}", "accuracy_level: [0]}", "onnxruntime.session_config[session.qdq_matmulnbits_accuracy_level]",
                        "must be a string, got a list"),
                Arguments.of("layers: int4, lm_head", "layers: int4+int3, lm_head", "weights.precision.layers",
                        "must be fp32, fp16, int8 or int4, or several of them joined by '+' (such as int4+int8), got 'int4+int3'"),
                Arguments.of("layers: int4, lm_head", "layers: int4+int4, lm_head", "weights.precision.layers",
                        "must be fp32, fp16, int8 or int4, or several of them joined by '+' (such as int4+int8), got 'int4+int4'"),
                Arguments.of("  block_size: 32\n", "  block_size: 0\n", "weights.block_size", "must be a positive integer when a matrix is quantized (int8/int4), got 0"),
                Arguments.of("  layout: sequence_major\n", "  layout: head_major\n", "kv_cache.layout", "must be one of sequence_major, head_major_shared, got 'head_major'"),
                Arguments.of("  layout: sequence_major\n", "  layout: head_major_shared\n", "kv_cache.shape", "must be [1, 3, max_seq, 64]"),
                Arguments.of("  layout: sequence_major\n  shape: [1, max_seq, 3, 64]\n", "  layout: head_major_shared\n  shape: [1, 3, max_seq, 64]\n", "rope_cache", "is required with kv_cache.layout head_major_shared"),
                Arguments.of("  shape: [1, max_seq, 3, 64]\n", "  shape: [1, max_seq, 9, 64]\n", "kv_cache.shape", "must be [1, max_seq, 3, 64]"),
                Arguments.of("  shape: [1, max_seq, 3, 64]\n", "  shape: [1, max_seq, 3]\n", "kv_cache.shape", "must be [1, max_seq, 3, 64]"),
                Arguments.of("  dtype: float32\n  keys_rotated", "  dtype: float16\n  keys_rotated", "kv_cache.dtype", "(float16) must equal weights.activations (float32)"),
                Arguments.of("  keys_rotated: true\n", "  keys_rotated: true\n  scratch_rows: -1\n", "kv_cache.scratch_rows", "must be an integer >= 0, got -1"),
                Arguments.of("  keys_rotated: true\n", "  keys_rotated: true\n  scratch_rows: 99\n", "kv_cache.scratch_rows", "must be at most 16, got 99"),
                Arguments.of("  kind: bpe\n", "  kind: wordpiece\n", "tokenizer.kind", "must be one of bpe, spm, got 'wordpiece'"),
                Arguments.of("  eos_ids: [2]\n", "  eos_ids: 2\n", "tokenizer.eos_ids", "must be a list, got 2"),
                Arguments.of("  eos_ids: [2]\n", "  eos_ids: [2, 49152]\n", "tokenizer.eos_ids[1]", "must be a token id in [0, 49152)"),
                Arguments.of("  bos_id: 1\n", "  bos_id: -1\n", "tokenizer.bos_id", "must be a token id in [0, 49152)"),
                Arguments.of("<|im_end|>: 2}", "<|im_end|>: two}", "tokenizer.special_tokens[<|im_end|>]", "must be a token id"),
                Arguments.of("  - file: layers/layer_1.onnx\n    index: 1\n", "  - file: layers/layer_1.onnx\n    index: 5\n",
                        "graphs.layers[1].index", "must be 1 (layers are listed in order 0..1), got 5"),
                Arguments.of("    file: head.onnx\n", "    file: head2.onnx\n", "graphs.head.file", "'head2.onnx' is not listed in files"),
                Arguments.of("    file: head.onnx\n", "    file: embed.onnx\n", "graphs.head.file", "'embed.onnx' is also the file of graphs.embed.file"),
                Arguments.of("    file: head.onnx\n", "    file: /tmp/head.onnx\n", "graphs.head.file", "must be a relative path inside the bundle, got '/tmp/head.onnx' (absolute)"),
                Arguments.of("      dtype: int64\n      shape: [1, seq]\n    outputs:\n    - name: hidden\n      dtype: float32\n      shape: [1, seq, 576]\n  head:",
                        "      dtype: int64\n      shape: [1, seq]\n    outputs:\n    - name: hidden\n      dtype: double\n      shape: [1, seq, 576]\n  head:",
                        "graphs.embed.outputs[0].dtype", "must be one of float32, float16, bfloat16, int64, int32, got 'double'"),
                Arguments.of("      shape: [1, seq]\n    outputs:\n    - name: hidden\n      dtype: float32\n      shape: [1, seq, 576]\n  head:",
                        "      shape: [1, seq]\n    outputs:\n    - name: hidden\n      dtype: float32\n      shape: [1, seq, -576]\n  head:",
                        "graphs.embed.outputs[0].shape[2]", "must be a positive integer or a dimension name"),
                Arguments.of("embed.onnx: 9fca723c", "embed.onnx: 9FCA723C", "files[embed.onnx]", "must be a SHA-256 (64 lowercase hex digits)"));
    }

    @ParameterizedTest(name = "{2}")
    @MethodSource("badValues")
    void rejectsBadValue(String from, String to, String keyPath, String problem) throws Exception {
        edit(from, to);
        BundleFormatException e = fails();
        assertEquals(keyPath, e.keyPath(), e.getMessage());
        assertContains(e.getMessage(), keyPath + " " + problem);
        assertTrue(e.line() > 0, e.getMessage());
    }

    static Stream<Arguments> missingKeys() {
        return Stream.of(
                Arguments.of("producer: skipper_export 0.1.0\n", "producer"),
                Arguments.of("  head_dim: 64\n", "model.head_dim"),
                Arguments.of("  exact_from_source: true\n", "weights.exact_from_source"),
                Arguments.of("  keys_rotated: true\n", "kv_cache.keys_rotated"),
                Arguments.of("  unk_id: 0\n", "tokenizer.unk_id"),
                Arguments.of("    index: 0\n", "graphs.layers[0].index"));
    }

    @ParameterizedTest(name = "{1}")
    @MethodSource("missingKeys")
    void rejectsMissingKey(String line, String keyPath) throws Exception {
        edit(line, "");
        BundleFormatException e = fails();
        assertEquals(keyPath, e.keyPath());
        assertContains(e.getMessage(), keyPath + " is missing");
    }

    @Test
    void rejectsMissingChatTemplateKey() throws Exception {
        String text = Files.readString(manifest());
        int start = text.indexOf("chat_template: '");
        int end = text.indexOf("graphs:\n");
        Files.writeString(manifest(), text.substring(0, start) + text.substring(end));
        assertEquals("chat_template", fails().keyPath());
    }

    @Test
    void ignoresUnknownTopLevelKey() throws Exception {
        // Newer exporters may add keys within a format_version (docs/bundle-format.md, "Versioning").
        edit("flavour: ort\n", "flavour: ort\ncalibration: {dataset: wikitext, samples: [1, 2, 3]}\n");
        Files.writeString(manifest(), "exported_at: 2024-01-01T00:00:00Z\n", StandardOpenOption.APPEND);
        BundleManifest m = BundleManifestReader.read(bundle, true);
        assertEquals(1, m.formatVersion());
        assertEquals("skipper_export 0.1.0", m.producer());
        assertEquals(Flavour.ORT, m.flavour());
        assertEquals(Map.of("ai.onnx", 21, "com.microsoft", 1), m.opsets());
        assertEquals(2, m.graphs().layers().size());
        assertEquals(List.of("embed.onnx", "head.onnx", "layers/layer_0.onnx", "layers/layer_1.onnx", "tokenizer.json"),
                List.copyOf(m.files().keySet()));

        // Ignored, but still YAML: a duplicate unknown key is rejected like any other duplicate.
        edit("flavour: ort\n", "flavour: ort\nexported_at: again\n");
        assertContains(fails().getMessage(), "exported_at appears twice");
    }

    @Test
    void ignoresUnknownKeyInModel() throws Exception {
        edit("  num_layers: 2\n", "  num_layers: 2\n  sliding_window: 4096\n  moe: {experts: 8, top_k: [2]}\n");
        BundleManifest.ModelDims d = BundleManifestReader.read(bundle, false).model();
        assertEquals("llama", d.architecture());
        assertEquals(2, d.numLayers());
        assertEquals(576, d.hiddenSize());
        assertEquals(1536, d.intermediateSize());
        assertEquals(9, d.numHeads());
        assertEquals(3, d.numKvHeads());
        assertEquals(64, d.headDim());
        assertEquals(49152, d.vocabSize());
        assertEquals(100000.0, d.rope().theta());
        assertTrue(d.tieWordEmbeddings());
    }

    @Test
    void rejectsAddBosWithoutBosId() throws Exception {
        edit("  bos_id: 1\n", "  bos_id: null\n");
        BundleManifestReader.read(bundle, false);
        edit("  add_bos: false\n", "  add_bos: true\n");
        BundleFormatException e = fails();
        assertEquals("tokenizer.add_bos", e.keyPath());
        assertContains(e.getMessage(), "is true but tokenizer.bos_id is null");
    }

    @Test
    void rejectsMergeKeysLikeDeploymentFiles() throws Exception {
        // One YAML policy for every file we read (HardenedYaml): merge keys are refused, not expanded.
        edit("  head_dim: 64\n", "  <<: {head_dim: 64}\n");
        BundleFormatException e = fails();
        assertEquals("model.<<", e.keyPath());
        assertContains(e.getMessage(), "merge keys (<<) are not supported");
    }

    @Test
    void rejectsNewerFormatVersion() throws Exception {
        edit("format_version: 1\n", "format_version: 2\n");
        BundleFormatException e = fails();
        assertEquals(manifest() + ":2: format_version is 2, but this SDK reads only version 1 "
                + "(upgrade the SDK or re-export with a matching exporter)", e.getMessage());
    }

    @Test
    void rejectsOlderFormatVersion() throws Exception {
        edit("format_version: 1\n", "format_version: 0\n");
        assertContains(fails().getMessage(), "format_version is 0, but this SDK reads only version 1 (re-export the bundle)");
    }

    @Test
    void formatVersionIsCheckedBeforeUnknownKeys() throws Exception {
        // Unknown keys are tolerated only within the version this SDK reads: the same new key reads
        // under version 1 ...
        edit("format_version: 1\n", "format_version: 1\nnew_in_v2: true\n");
        assertEquals(1, BundleManifestReader.read(bundle, false).formatVersion());
        // ... but under version 2 the manifest is rejected on format_version, before any other key,
        // even when a known key has also changed (here producer, now a mapping).
        edit("format_version: 1\n", "format_version: 2\n");
        edit("producer: skipper_export 0.1.0\n", "producer: {name: skipper_export, version: 0.2.0}\n");
        BundleFormatException e = fails();
        assertEquals("format_version", e.keyPath());
        assertContains(e.getMessage(), "format_version is 2, but this SDK reads only version 1");
    }

    @Test
    void rejectsGraphInputOfWrongDtype() throws Exception {
        editAfter("  - file: layers/layer_1.onnx", "    - name: past_key\n      dtype: float32", "    - name: past_key\n      dtype: float16");
        BundleFormatException e = fails();
        assertEquals("graphs.layers[1].inputs[2]", e.keyPath());
        assertContains(e.getMessage(), "'past_key' must be float32 [1, past, 3, 64], got float16 [1, past, 3, 64]");
    }

    @Test
    void rejectsGraphOutputOfWrongShape() throws Exception {
        edit("      shape: [1, seq, 49152]\n", "      shape: [1, seq, 49153]\n");
        BundleFormatException e = fails();
        assertEquals("graphs.head.outputs[0]", e.keyPath());
        assertContains(e.getMessage(), "'logits' must be float32 [1, seq, 49152], got float32 [1, seq, 49153]");
    }

    @Test
    void rejectsGraphWithRenamedOrMissingTensor() throws Exception {
        editAfter("  - file: layers/layer_0.onnx", "    - name: value\n", "    - name: val\n");
        BundleFormatException e = fails();
        assertEquals("graphs.layers[0].outputs[2]", e.keyPath());
        assertContains(e.getMessage(), "'val' is not in the contract of format version 1 (expected hidden_out, key, value)");
    }

    @Test
    void rejectsGraphWithExtraTensor() throws Exception {
        edit("""
                    - name: input_ids
                      dtype: int64
                      shape: [1, seq]
                    outputs:
                """, """
                    - name: input_ids
                      dtype: int64
                      shape: [1, seq]
                    - name: attention_mask
                      dtype: int64
                      shape: [1, seq]
                    outputs:
                """);
        assertContains(fails().getMessage(), "graphs.embed.inputs[1] 'attention_mask' is not in the contract");
    }

    @Test
    void rejectsGraphMissingATensor() throws Exception {
        editAfter("  - file: layers/layer_1.onnx", """
                    - name: value
                      dtype: float32
                      shape: [1, seq, 3, 64]
                """, "");
        BundleFormatException e = fails();
        assertEquals("graphs.layers[1].outputs", e.keyPath());
        assertContains(e.getMessage(), "graphs.layers[1].outputs has no 'value' (expected float32 [1, seq, 3, 64])");
    }

    @Test
    void rejectsLayerCountMismatch() throws Exception {
        edit("  num_layers: 2\n", "  num_layers: 3\n");
        BundleFormatException e = fails();
        assertEquals("graphs.layers", e.keyPath());
        assertContains(e.getMessage(), "graphs.layers has 2 entries but model.num_layers is 3");
    }

    // ---- files: confinement, existence, hashes ------------------------------------------------------

    @Test
    void rejectsDotDotPath() throws Exception {
        edit("embed.onnx: 9fca", "../secret.onnx: 9fca");
        BundleFormatException e = fails();
        assertEquals("files[../secret.onnx]", e.keyPath());
        assertContains(e.getMessage(), "must be a relative path inside the bundle, got '../secret.onnx' ('..' leads out of the bundle)");
    }

    @Test
    void rejectsDotDotInsidePath() throws Exception {
        edit("layers/layer_0.onnx: c0f1", "layers/../../x/layer_0.onnx: c0f1");
        assertContains(fails().getMessage(), "'..' leads out of the bundle");
    }

    @Test
    void rejectsAbsolutePath() throws Exception {
        edit("tokenizer.json: 3c62", "/etc/passwd: 3c62");
        BundleFormatException e = fails();
        assertEquals("files[/etc/passwd]", e.keyPath());
        assertContains(e.getMessage(), "(absolute)");
    }

    @Test
    void rejectsWindowsStylePaths() throws Exception {
        edit("tokenizer.json: 3c62", "'C:\\\\tokenizer.json': 3c62");
        assertContains(fails().getMessage(), "(absolute)");
    }

    @Test
    void rejectsSymlinkOutOfTheBundle() throws Exception {
        Path outside = tmp.resolve("outside.json");
        Files.copy(bundle.resolve("tokenizer.json"), outside);
        Files.delete(bundle.resolve("tokenizer.json"));
        symlinkOrSkip(bundle.resolve("tokenizer.json"), outside);
        BundleFormatException e = fails();
        assertEquals("files[tokenizer.json]", e.keyPath());
        assertContains(e.getMessage(), "outside the bundle");
    }

    @Test
    void rejectsSymlinkedFolderOutOfTheBundle() throws Exception {
        Path outside = tmp.resolve("outside-layers");
        Files.move(bundle.resolve("layers"), outside);
        symlinkOrSkip(bundle.resolve("layers"), outside);
        BundleFormatException e = fails();
        assertEquals("files[layers/layer_0.onnx]", e.keyPath());
        assertContains(e.getMessage(), "outside the bundle");
    }

    @Test
    void rejectsMissingListedFile() throws Exception {
        Files.delete(bundle.resolve("layers/layer_1.onnx"));
        BundleFormatException e = fails();
        assertEquals("files[layers/layer_1.onnx]", e.keyPath());
        assertContains(e.getMessage(), "is listed but");
        assertContains(e.getMessage(), "does not exist");
    }

    @Test
    void rejectsListedDirectory() throws Exception {
        Files.delete(bundle.resolve("head.onnx"));
        Files.createDirectory(bundle.resolve("head.onnx"));
        assertContains(fails().getMessage(), "files[head.onnx] is not a regular file");
    }

    @Test
    void rejectsManifestListedInFiles() throws Exception {
        edit("tokenizer.json: 3c62", "manifest.yaml: 3c62");
        assertContains(fails().getMessage(), "files[manifest.yaml] must not be listed");
    }

    @Test
    void rejectsHashMismatchOnlyWhenVerifying() throws Exception {
        Files.writeString(bundle.resolve("head.onnx"), "tampered", StandardOpenOption.APPEND);
        BundleManifestReader.read(bundle, false);
        BundleFormatException e = fails(true);
        assertEquals("files[head.onnx]", e.keyPath());
        assertContains(e.getMessage(), "sha256 mismatch: the manifest says 189d78c6");
        assertTrue(e.line() > 0);
    }

    @Test
    void hashesLargeFilesInChunks() throws Exception {
        // 3.5 MiB: several reads of the 1 MiB buffer, last one partial.
        byte[] data = new byte[3 * (1 << 20) + (1 << 19)];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i * 31 + (i >>> 11));
        }
        Files.write(bundle.resolve("embed.onnx"), data);
        String sha = java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(data));
        edit("embed.onnx: 9fca723c73d2d8cee886fde606e12b6ba19706a60abf3b1779f118b666819843", "embed.onnx: " + sha);
        assertEquals(sha, BundleManifestReader.read(bundle, true).files().get("embed.onnx"));
    }

    private static void symlinkOrSkip(Path link, Path target) throws IOException {
        try {
            Files.createSymbolicLink(link, target);
        } catch (UnsupportedOperationException | IOException e) {
            assumeTrue(false, "symbolic links not available here: " + e);
        }
    }

    @Test
    void fixtureFilesAreUtf8Text() throws Exception {
        // Guards the fixture against line-ending conversion: hashes are of the exact bytes.
        assertFalse(new String(Files.readAllBytes(bundle.resolve("embed.onnx")), StandardCharsets.UTF_8).contains("\r"));
    }
}
