package dev.skipper.core.tokenizer;

import dev.skipper.bundle.BundleManifest;
import dev.skipper.testing.Goldens.Encoded;
import dev.skipper.testing.Goldens;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Java tokenizers against the exporter's Python tokenizer, case by case. */
class TokenizerGoldensTest {
    static final List<String> CASES = TokenizerTestData.CASES;

    private static List<Encoded> all(Goldens g) {
        List<Encoded> all = new ArrayList<>(g.tokenizer());
        all.addAll(g.promptsEncoded());
        return all;
    }

    @ParameterizedTest
    @FieldSource("CASES")
    void encodeGivesTheExportersIds(String name) throws Exception {
        Goldens g = TokenizerTestData.goldens(name);
        try (Tokenizer tok = TokenizerTestData.open(name)) {
            for (Encoded e : all(g)) {
                assertArrayEquals(e.ids(), tok.encode(e.text()), name + ": encode(" + StreamingChecks.escape(e.text()) + ")");
            }
        }
    }

    @ParameterizedTest
    @FieldSource("CASES")
    void decodeGivesTheTextBackWithoutSpecialTokens(String name) throws Exception {
        Goldens g = TokenizerTestData.goldens(name);
        BundleManifest manifest = TokenizerTestData.manifest(name);
        try (Tokenizer tok = TokenizerTestData.open(name)) {
            int roundTrips = 0;
            for (Encoded e : all(g)) {
                String expected = e.text();
                for (String special : manifest.tokenizer().specialTokens().keySet()) {
                    expected = expected.replace(special, "");
                }
                assertEquals(expected, tok.decode(e.ids()), name + ": decode of " + StreamingChecks.escape(e.text()));
                if (expected.equals(e.text())) {
                    assertEquals(e.text(), tok.decode(tok.encode(e.text())), name + ": round trip");
                    roundTrips++;
                }
            }
            assertTrue(roundTrips >= g.tokenizer().size() - 1, name + ": only " + roundTrips + " texts round-tripped");
        }
    }

    @ParameterizedTest
    @FieldSource("CASES")
    void streamingPrintsExactlyTheDecodedTextAndNeverHalfACharacter(String name) throws Exception {
        Goldens g = TokenizerTestData.goldens(name);
        try (Tokenizer tok = TokenizerTestData.open(name)) {
            int held = 0;
            for (Encoded e : all(g)) {
                StreamingChecks.Result r = StreamingChecks.assertStreamsLikeDecode(tok, e.ids(), false,
                        name + " " + StreamingChecks.escape(e.text()));
                if (e.text().contains("\uD83D") || e.text().contains("\u65E5")) {
                    held += r.emptyPushes();
                }
            }
            // The emoji and CJK texts split characters across tokens: some pushes had to wait.
            assertTrue(held > 0, name + ": no push was held back in the emoji/CJK texts");
            StreamingChecks.assertStreamsLikeDecode(tok, g.teacherIds(), false, name + " teacher-forced text");
        }
    }

    @ParameterizedTest
    @FieldSource("CASES")
    void streamingModelOutputEqualsDecode(String name) throws Exception {
        // The reference model's greedy tokens after each prompt: what a generation streams (the tiny
        // models' output is noise, so invalid UTF-8 and U+FFFD are allowed here).
        Goldens g = TokenizerTestData.goldens(name);
        try (Tokenizer tok = TokenizerTestData.open(name)) {
            for (int i = 0; i < g.prompts().size(); i++) {
                int[] prompt = g.prompts().get(i).ids();
                int[] greedy = g.prompts().get(i).greedy();
                int[] both = IntStream.concat(IntStream.of(prompt), IntStream.of(greedy)).toArray();
                StreamingChecks.assertStreamsLikeDecode(tok, greedy, true, name + " greedy " + i);
                StreamingChecks.assertStreamsLikeDecode(tok, both, true, name + " prompt+greedy " + i);
            }
        }
    }

    @ParameterizedTest
    @FieldSource("CASES")
    void streamingWellFormedTextsInAnyOrder(String name) throws Exception {
        // Streams made of several edge-case texts' ids back to back: the bytes stay valid UTF-8,
        // and texts meet in every combination (CJK after emoji, ChatML markers, BOS mid-stream).
        Goldens g = TokenizerTestData.goldens(name);
        try (Tokenizer tok = TokenizerTestData.open(name)) {
            List<int[]> chunks = all(g).stream().map(Encoded::ids).toList();
            Random random = new Random(7);
            for (int round = 0; round < 50; round++) {
                IntStream.Builder b = IntStream.builder();
                for (int k = 0; k < 6; k++) {
                    IntStream.of(chunks.get(random.nextInt(chunks.size()))).forEach(b::add);
                }
                StreamingChecks.assertStreamsLikeDecode(tok, b.build().toArray(), false, name + " mix " + round);
            }
        }
    }

    @ParameterizedTest
    @FieldSource("CASES")
    void streamingRandomIdsEqualsDecode(String name) throws Exception {
        try (Tokenizer tok = TokenizerTestData.open(name)) {
            Random random = new Random(11);
            for (int round = 0; round < 200; round++) {
                int[] ids = random.ints(1 + random.nextInt(40), 0, tok.vocabSize()).toArray();
                StreamingChecks.assertStreamsLikeDecode(tok, ids, true, name + " random " + round);
            }
        }
    }
}
