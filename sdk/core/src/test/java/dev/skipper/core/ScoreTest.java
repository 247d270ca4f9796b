package dev.skipper.core;

import dev.skipper.api.ContextOverflowException;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.ScoreResult;
import dev.skipper.testing.Goldens;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Teacher-forced scoring against the reference's argmax. */
class ScoreTest {
    static final List<String> ALL_CASES = EngineTestData.ALL_CASES;

    @ParameterizedTest
    @FieldSource("ALL_CASES")
    void argmaxEqualsTheReferenceAtEveryPosition(String name) throws Exception {
        DefaultEngine engine = EngineTestData.engine(name);
        Goldens g = EngineTestData.goldens(name);
        int[] ids = g.teacherIds();
        try (DefaultSession session = engine.newSession()) {
            ScoreResult s = session.score(ids);
            assertArrayEquals(ids, s.tokens());
            assertEquals(ids.length - 1, s.argmax().length);
            List<Integer> mismatches = new ArrayList<>();
            for (int i = 0; i < s.argmax().length; i++) {
                if (s.argmax()[i] != g.teacherArgmax()[i]) {
                    mismatches.add(i);
                }
            }
            if (engine.manifest().weights().exactArithmetic()) {
                // float32 rounding may flip a near-tie of the float64 reference and nothing else.
                mismatches.removeAll(g.nearTies());
                assertEquals(List.of(), mismatches, name + ": positions whose argmax differs (not near-ties)");
            } else {
                double agreement = 1 - mismatches.size() / (double) s.argmax().length;
                assertTrue(agreement >= 0.99, name + ": agreement " + agreement + " at " + mismatches);
            }
            double sum = 0;
            for (double lp : s.logprobs()) {
                assertTrue(lp <= 1e-9 && Double.isFinite(lp), "log-probabilities are finite and <= 0");
                sum += lp;
            }
            assertEquals(Math.exp(-sum / s.logprobs().length), s.perplexity(), 1e-9 * s.perplexity());
            assertEquals(0, session.length(), "scoring does not touch the conversation");
        }
    }

    @Test
    void scoringTextEqualsScoringItsIdsAndLeavesTheConversationAlone() throws Exception {
        DefaultEngine engine = EngineTestData.engine("smollm2-fp32");
        Goldens g = EngineTestData.goldens("smollm2-fp32");
        String text = g.prompts().get(3).text();
        try (DefaultSession session = engine.newSession()) {
            GenerationResult before = session.generate(g.prompts().get(0).text(), EngineTestData.greedyNoEos(8), null);
            int length = session.length();
            ScoreResult byText = session.score(text);
            ScoreResult byIds = session.score(g.prompts().get(3).ids());
            assertArrayEquals(g.prompts().get(3).ids(), byText.tokens());
            assertArrayEquals(byIds.argmax(), byText.argmax());
            assertArrayEquals(byIds.logprobs(), byText.logprobs());
            assertEquals(length, session.length());
            // The conversation continues as if no score had happened.
            GenerationResult next = session.generate("", EngineTestData.greedyNoEos(8), null);
            int[] whole = g.prompts().get(0).greedy();
            assertArrayEquals(Arrays.copyOfRange(whole, 0, 8), before.tokenIds());
            assertArrayEquals(Arrays.copyOfRange(whole, 8, 16), next.tokenIds());
        }
    }

    @Test
    void aTextLongerThanTheContextIsRefused() throws Exception {
        DefaultEngine engine = EngineTestData.engine("tiny-bpe-fp32");
        try (DefaultSession session = engine.newSession()) {
            int[] ids = new int[EngineTestData.CONTEXT + 1];
            Arrays.fill(ids, 5);
            ContextOverflowException e = assertThrows(ContextOverflowException.class, () -> session.score(ids));
            assertEquals(EngineTestData.CONTEXT + 1, e.tokens());
            assertEquals(EngineTestData.CONTEXT, e.contextLength());
            ScoreResult one = session.score(new int[] {5});
            assertEquals(0, one.argmax().length);
            assertTrue(Double.isNaN(one.perplexity()));
        }
    }
}
