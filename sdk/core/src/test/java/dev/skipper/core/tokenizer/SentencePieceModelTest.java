package dev.skipper.core.tokenizer;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.skipper.api.SkipperException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.IntPredicate;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Java SentencePiece decoder against Python sentencepiece's {@code DecodeIds}: the exporter's
 * tiny model and two variants with other normalizer flags (resources {@code tokenizer/spm/}), over
 * hand-picked and random id sequences (byte runs valid and invalid, control, unknown and
 * user-defined pieces, lone U+2581).
 */
class SentencePieceModelTest {
    private static final String DIR = "/tokenizer/spm/";

    static byte[] resource(String name) throws IOException {
        try (InputStream in = SentencePieceModelTest.class.getResourceAsStream(DIR + name)) {
            if (in == null) {
                throw new IOException("missing test resource " + DIR + name);
            }
            return in.readAllBytes();
        }
    }

    static SentencePieceModel model(String name) throws IOException, SkipperException {
        return SentencePieceModel.parse(resource(name), Path.of(name));
    }

    private static JsonObject cases() throws IOException {
        return JsonParser.parseString(new String(resource("decode-cases.json"), StandardCharsets.UTF_8))
                .getAsJsonObject().getAsJsonObject("models");
    }

    @Test
    void decodesLikeSentencePiece() throws Exception {
        JsonObject models = cases();
        assertEquals(3, models.size());
        for (Map.Entry<String, JsonElement> m : models.entrySet()) {
            SentencePieceModel model = model(m.getKey());
            JsonObject spec = m.getValue().getAsJsonObject();
            assertEquals(spec.get("vocab_size").getAsInt(), model.size(), m.getKey());
            int n = 0;
            for (JsonElement c : spec.getAsJsonArray("cases")) {
                int[] ids = TokenizerTestData.ints(c.getAsJsonObject().getAsJsonArray("ids"));
                String expected = c.getAsJsonObject().get("text").getAsString();
                assertEquals(expected, model.decode(ids, 0, ids.length, id -> false),
                        m.getKey() + " " + Arrays.toString(ids));
                n++;
            }
            assertTrue(n > 300);
        }
    }

    @Test
    void decodesARangeAndLeavesOutDroppedIds() throws Exception {
        SentencePieceModel model = model("tiny.model");
        int[] ids = {7, 261, 1, 263, 9};
        String all = model.decode(ids, 1, 4, id -> false);
        assertEquals(model.decode(new int[] {261, 1, 263}, 0, 3, id -> false), all);
        assertEquals(model.decode(new int[] {261, 263}, 0, 2, id -> false), model.decode(ids, 1, 4, id -> id == 1));
    }

    @Test
    void readsPieceTypes() throws Exception {
        SentencePieceModel model = model("tiny.model");
        assertEquals(SentencePieceModel.UNKNOWN, model.type(0));
        assertEquals(SentencePieceModel.CONTROL, model.type(1));
        assertEquals(SentencePieceModel.USER_DEFINED, model.type(3));
        assertEquals("<|im_start|>", model.piece(3));
        assertEquals(SentencePieceModel.BYTE, model.type(5));
        assertEquals("<0x00>", model.piece(5));
        assertFalse(model.rendersTextFirst(1));
        assertTrue(model.rendersTextFirst(5));
        assertTrue(model.rendersTextFirst(3));
    }

    @Test
    void refusesWhatIsNotAModel() throws Exception {
        byte[] good = resource("tiny.model");
        Path file = Path.of("bundle", "tokenizer.model");
        for (byte[] bad : List.of(new byte[0], Arrays.copyOf(good, good.length / 2), new byte[] {(byte) 0xFF, 0x7F},
                "PK\u0003\u0004 not a model at all".getBytes(StandardCharsets.ISO_8859_1))) {
            SkipperException e = assertThrows(SkipperException.class, () -> SentencePieceModel.parse(bad, file));
            assertTrue(e.getMessage().contains("tokenizer.model"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
        }
    }

    @Test
    void refusesAModelWithADenormalizer() throws Exception {
        byte[] good = resource("tiny.model");
        // ModelProto field 5 (denormalizer_spec) holding field 2 (precompiled_charsmap) = "x".
        byte[] extra = {(5 << 3) | 2, 3, (2 << 3) | 2, 1, 'x'};
        byte[] bad = Arrays.copyOf(good, good.length + extra.length);
        System.arraycopy(extra, 0, bad, good.length, extra.length);
        SkipperException e = assertThrows(SkipperException.class, () -> SentencePieceModel.parse(bad, Path.of("m.model")));
        assertTrue(e.getMessage().contains("denormalizer"), e.getMessage());
    }

    @Test
    void appendUtf8ReplacesEachBadByte() {
        StringBuilder b = new StringBuilder();
        byte[] bytes = {(byte) 0xE6, (byte) 0x97, (byte) 0xA5, (byte) 0xF0, (byte) 0x9F, 'a', (byte) 0xC0, (byte) 0xAF,
            (byte) 0xED, (byte) 0xA0, (byte) 0x80, (byte) 0xEF, (byte) 0xBF, (byte) 0xBD, (byte) 0xF0, (byte) 0x9F,
            (byte) 0x9A, (byte) 0x80};
        SentencePieceModel.appendUtf8(b, bytes, bytes.length);
        assertEquals("\u65E5\uFFFD\uFFFDa\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD\uD83D\uDE80", b.toString());
    }

    /**
     * The streaming detokenizer over the Java SentencePiece decoder alone (no native library):
     * random streams of whole characters, leading-space pieces, lone U+2581, unknown, control and
     * user-defined pieces, on all three normalizer variants.
     */
    @Test
    void streamingMatchesDecodeOnEveryVariant() throws Exception {
        for (String name : cases().keySet()) {
            SentencePieceModel model = model(name);
            IntPredicate dropped = id -> id >= model.size() || id == 2;
            DetokenizerSource source = new DetokenizerSource() {
                @Override
                public void ensureOpen() {
                }

                @Override
                public String decode(int[] ids, int from, int to) {
                    return model.decode(ids, from, to, dropped);
                }

                @Override
                public boolean isDropped(int id) {
                    return dropped.test(id);
                }

                @Override
                public boolean rendersText(int id) {
                    return model.rendersTextFirst(id);
                }
            };
            List<int[]> units = units(model);
            Random random = new Random(name.hashCode());
            for (int round = 0; round < 300; round++) {
                IntStream.Builder b = IntStream.builder();
                for (int k = random.nextInt(12); k >= 0; k--) {
                    IntStream.of(units.get(random.nextInt(units.size()))).forEach(b::add);
                }
                int[] ids = b.build().toArray();
                StreamingChecks.Result r = StreamingChecks.stream(new IncrementalDetokenizer(source), ids, false,
                        name + " " + Arrays.toString(ids));
                assertEquals(source.decode(ids, 0, ids.length), r.text(), name + " " + Arrays.toString(ids));
                assertTrue(r.maxWindow() <= 6, name + ": window " + r.maxWindow());
            }
        }
    }

    /** Pieces and whole characters spelled in byte pieces, from the tiny model's vocabulary. */
    private static List<int[]> units(SentencePieceModel model) {
        List<int[]> units = new ArrayList<>();
        int byteBase = -1;
        for (int id = 0; id < model.size(); id++) {
            int type = model.type(id);
            if (type == SentencePieceModel.BYTE) {
                if (byteBase < 0) {
                    byteBase = id;
                }
            } else {
                units.add(new int[] {id});
            }
        }
        for (String s : List.of("\u65E5", "\u00E9", "\uD83D\uDE80", "\uD83D\uDC69\u200D\uD83D\uDC67", "\u00C5", " ", "\t")) {
            byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
            int[] unit = new int[utf8.length];
            for (int i = 0; i < utf8.length; i++) {
                unit[i] = byteBase + (utf8[i] & 0xFF);
            }
            for (int copies = 0; copies < 20; copies++) {
                units.add(unit);
            }
        }
        return units;
    }
}
