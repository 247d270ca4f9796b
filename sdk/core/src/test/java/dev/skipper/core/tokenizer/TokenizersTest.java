package dev.skipper.core.tokenizer;

import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest.TokenizerSpec;
import dev.skipper.bundle.BundleManifest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Opening, errors, special-token splitting, closing; on the tiny bundles of the test data. */
class TokenizersTest {
    private static final String BPE = "tiny-bpe-fp32";
    private static final String SPM = "tiny-spm-int4";

    @TempDir
    Path tmp;

    @Test
    void opensEachKindWithTheManifestsIds() throws Exception {
        BundleManifest m = TokenizerTestData.manifest(BPE);
        try (Tokenizer tok = Tokenizers.open(m)) {
            assertInstanceOf(HfTokenizer.class, tok);
            assertEquals(m.model().vocabSize(), tok.vocabSize());
            assertEquals(m.tokenizer().bosId(), tok.bosId().getAsInt());
            assertArrayEquals(m.tokenizer().eosIds().stream().mapToInt(Integer::intValue).toArray(), tok.eosIds());
            assertArrayEquals(new int[0], tok.encode(""));
        }
        BundleManifest s = TokenizerTestData.manifest(SPM);
        try (Tokenizer tok = Tokenizers.open(s.directory(), s)) {
            assertInstanceOf(SentencePieceTokenizer.class, tok);
            assertEquals(s.model().vocabSize(), tok.vocabSize());
            assertArrayEquals(new int[] {s.tokenizer().bosId()}, tok.encode(""));
            tok.eosIds()[0] = -5;
            assertEquals(s.tokenizer().eosIds().get(0), tok.eosIds()[0]);
        }
    }

    @Test
    void djlSettingsAreOnlyChangedWhileATokenizerOpens() throws Exception {
        String before = System.setProperty("ai.djl.offline", "false");
        try {
            try (Tokenizer tok = TokenizerTestData.open(SPM)) {
                assertTrue(tok.vocabSize() > 0);
            }
            assertEquals("false", System.getProperty("ai.djl.offline"));
            assertEquals(null, System.getProperty("RUST_FLAVOR"));
            assertEquals(null, System.getProperty("OPT_OUT_TRACKING"));
        } finally {
            if (before == null) {
                System.clearProperty("ai.djl.offline");
            } else {
                System.setProperty("ai.djl.offline", before);
            }
        }
    }

    @Test
    void longTextsAreNotTruncated() throws Exception {
        for (String name : new String[] {BPE, SPM}) {
            try (Tokenizer tok = TokenizerTestData.open(name)) {
                String text = "the quick brown fox jumps over the lazy dog. ".repeat(400);
                int[] one = tok.encode("the quick brown fox jumps over the lazy dog. ");
                int[] ids = tok.encode(text);
                assertTrue(ids.length > 2000, name + ": " + ids.length + " ids");
                assertEquals(text, tok.decode(ids), name);
                assertTrue(ids.length >= 400 * one.length / 2, name);
            }
        }
    }

    @Test
    void sentencePieceSplitsOnSpecialTokensLongestFirst() throws Exception {
        BundleManifest m = TokenizerTestData.manifest(SPM);
        TokenizerSpec t = m.tokenizer();
        Map<String, Integer> specials = new LinkedHashMap<>(t.specialTokens());
        specials.put("<|im", 6);
        specials.put("<|im_start|>", 3);
        BundleManifest changed = withTokenizer(m, new TokenizerSpec(t.kind(), t.file(), t.bosId(), t.eosIds(),
                t.padId(), t.unkId(), t.addBos(), specials));
        try (Tokenizer tok = Tokenizers.open(changed); Tokenizer plain = Tokenizers.open(m)) {
            int bos = tok.bosId().getAsInt();
            int[] hello = IntStream.of(plain.encode("hello")).skip(1).toArray();
            int[] world = IntStream.of(plain.encode(" world")).skip(1).toArray();
            int[] expected = IntStream.concat(IntStream.of(bos, 1), IntStream.concat(IntStream.of(hello),
                    IntStream.concat(IntStream.of(3, 6), IntStream.concat(IntStream.of(world), IntStream.of(2)))))
                    .toArray();
            assertArrayEquals(expected, tok.encode("<s>hello<|im_start|><|im world</s>"));
            // As in Python: [1, 1, 425, 265, 434, 318, 3, 6, 261, 451, 270, 434, 437, 2]. Each stretch
            // gets SentencePiece's dummy prefix (" world" starts with two spaces), and decoding
            // leaves the manifest's special tokens out.
            assertEquals("hello  world", tok.decode(tok.encode("<s>hello<|im world</s>")));
        }
    }

    @Test
    void decodeSkipsUnknownIdsAndRejectsNegativeOnes() throws Exception {
        for (String name : new String[] {BPE, SPM}) {
            try (Tokenizer tok = TokenizerTestData.open(name)) {
                int[] ids = tok.encode("Hi there");
                int[] withJunk = IntStream.concat(IntStream.of(ids), IntStream.of(tok.vocabSize() + 5)).toArray();
                assertEquals(tok.decode(ids), tok.decode(withJunk), name);
                assertThrows(IllegalArgumentException.class, () -> tok.decode(new int[] {-1}), name);
                assertThrows(IllegalArgumentException.class, () -> tok.newStreamingDetokenizer().push(-3), name);
                assertThrows(NullPointerException.class, () -> tok.encode(null), name);
            }
        }
    }

    @Test
    void closingIsIdempotentAndEndsUse() throws Exception {
        for (String name : new String[] {BPE, SPM}) {
            Tokenizer tok = TokenizerTestData.open(name);
            StreamingDetokenizer stream = tok.newStreamingDetokenizer();
            StringBuilder printed = new StringBuilder();
            for (int id : tok.encode("Hi there")) {
                printed.append(stream.push(id));
            }
            assertEquals("Hi there", printed.toString(), name);
            tok.close();
            tok.close();
            assertThrows(IllegalStateException.class, () -> tok.encode("x"), name);
            assertThrows(IllegalStateException.class, () -> tok.decode(new int[] {5}), name);
            assertThrows(IllegalStateException.class, tok::newStreamingDetokenizer, name);
            assertThrows(IllegalStateException.class, () -> stream.push(5), name);
            assertThrows(IllegalStateException.class, stream::flush, name);
            assertTrue(tok.vocabSize() > 0, name);
            tok.close();
        }
    }

    @Test
    void missingTokenizerFileIsNamed() throws Exception {
        for (String name : new String[] {BPE, SPM}) {
            BundleManifest m = TokenizerTestData.manifest(name);
            SkipperException e = assertThrows(SkipperException.class, () -> Tokenizers.open(tmp, m));
            assertOneLineNaming(e, m.tokenizer().file());
            assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
        }
    }

    @Test
    void brokenTokenizerJsonIsNamed() throws Exception {
        BundleManifest m = TokenizerTestData.manifest(BPE);
        Path file = tmp.resolve(m.tokenizer().file());
        for (String content : new String[] {"{not json", "{}", "[1, 2]", "{\"model\": {\"vocab\": {\"a\": 0}}}",
            "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"x\"}}}"}) {
            Files.writeString(file, content, StandardCharsets.UTF_8);
            SkipperException e = assertThrows(SkipperException.class, () -> Tokenizers.open(tmp, m), content);
            assertOneLineNaming(e, m.tokenizer().file());
        }
    }

    @Test
    void brokenSentencePieceModelIsNamed() throws Exception {
        BundleManifest m = TokenizerTestData.manifest(SPM);
        Path file = tmp.resolve(m.tokenizer().file());
        Files.write(file, "this is not a protobuf\n".getBytes(StandardCharsets.UTF_8));
        assertOneLineNaming(assertThrows(SkipperException.class, () -> Tokenizers.open(tmp, m)), m.tokenizer().file());
        Files.createDirectories(tmp.resolve("dir"));
        BundleManifest asDir = withTokenizer(m, new TokenizerSpec(m.tokenizer().kind(), "dir", null, java.util.List.of(),
                null, null, false, Map.of()));
        assertOneLineNaming(assertThrows(SkipperException.class, () -> Tokenizers.open(tmp, asDir)), "dir");
    }

    private static void assertOneLineNaming(SkipperException e, String file) {
        String msg = e.getMessage();
        assertTrue(msg.contains(file), msg);
        assertFalse(msg.contains("\n") || msg.contains("\r"), msg);
    }

    private static BundleManifest withTokenizer(BundleManifest m, TokenizerSpec t) {
        return new BundleManifest(m.directory(), m.format(), m.formatVersion(), m.producer(), m.source(), m.model(),
                m.weights(), m.flavour(), m.opsets(), m.onnxruntime(), m.kvCache(), m.ropeCache(), m.speculation(), m.draftHeads(), m.firstRouters(), m.featureDrafter(),
                m.draftCorpus(), t, m.chatTemplate(), m.graphs(),
                m.files());
    }
}
