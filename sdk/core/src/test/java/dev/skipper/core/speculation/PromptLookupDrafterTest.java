package dev.skipper.core.speculation;

import dev.skipper.api.SamplingOptions;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Prompt lookup, layer plans and the draft controller: pure logic, no model. */
class PromptLookupDrafterTest {

    @Test
    void copiesWhatFollowedTheMostRecentLongestMatch() {
        PromptLookupDrafter d = new PromptLookupDrafter(3, 2);
        //              0  1  2  3  4  5  6  7  8  9 10 11
        int[] tokens = {1, 2, 3, 9, 8, 2, 3, 4, 5, 7, 2, 3};
        // [7, 2, 3] has no earlier match; [2, 3] occurs at 1..2 (then 9) and 5..6 (then 4): most recent wins
        assertEquals(7, d.find(tokens, tokens.length));
        int[] longer = {5, 2, 3, 6, 1, 2, 3, 4, 5, 2, 3};
        // [5, 2, 3] matches at 0..2, followed by 6: the 3-gram beats the more recent 2-gram at 5..6
        assertEquals(3, d.find(longer, longer.length));
        assertEquals(-1, d.find(new int[] {1, 2, 3, 4}, 4));
    }

    @Test
    void draftsAreClippedToTheKnownTokensAndMax() {
        PromptLookupDrafter d = new PromptLookupDrafter(2, 1);
        int[] tokens = {4, 5, 6, 4, 5};
        Drafts batch = Drafts.forTests(8);
        DraftContext context = new DraftContext(null, null, null).set(tokens, tokens.length, SamplingOptions.GREEDY);
        assertFalse(d.runsModel());
        d.propose(context, 8, batch);
        assertEquals(3, batch.count()); // [6, 4, 5]: everything after the match, up to the end
        assertArrayEquals(new int[] {6, 4, 5}, new int[] {batch.token(0), batch.token(1), batch.token(2)});
        assertTrue(batch.deterministic());
        assertEquals(1.0, batch.q(1, 4));
        assertEquals(0.0, batch.q(1, 5));
        assertEquals(0, batch.exactLayers());
        batch.clear();
        d.propose(context, 2, batch);
        assertEquals(2, batch.count());
        batch.clear();
        assertThrows(IllegalStateException.class, () -> {
            for (int i = 0; i < 9; i++) {
                batch.add(1);
            }
        }, "a full round refuses more drafts");
    }

    @Test
    void rejectsBadSizes() {
        assertThrows(IllegalArgumentException.class, () -> new PromptLookupDrafter(0, 1));
        assertThrows(IllegalArgumentException.class, () -> new PromptLookupDrafter(2, 3));
    }

    @Test
    void layerPlansKnowTheirExactPrefix() {
        LayerPlan early = LayerPlan.earlyExit(6, 2);
        assertEquals(2, early.exactLayers());
        assertEquals(2, early.layersRun());
        assertEquals(List.of(2, 3, 4, 5), early.skipped());
        LayerPlan skip = LayerPlan.skipping(6, List.of(4, 1));
        assertEquals(1, skip.exactLayers());
        assertEquals(4, skip.layersRun());
        assertEquals(List.of(1, 4), skip.skipped());
        assertThrows(IllegalArgumentException.class, () -> LayerPlan.earlyExit(6, 6));
        assertThrows(IllegalArgumentException.class, () -> LayerPlan.skipping(6, List.of(6)));
        assertThrows(IllegalArgumentException.class, () -> LayerPlan.skipping(2, List.of(0, 1)));
    }

    @Test
    void controllerDraftsWhenItPaysAndSwitchesOffWhenItLoses() {
        DraftController c = new DraftController(4, new DraftController.Prior[] {new DraftController.Prior(0.9, false)}, true);
        for (int i = 0; i < DraftController.WARMUP_PLAIN_STEPS; i++) {
            assertTrue(c.wantsPlainStep());
            c.observePlain(10_000_000);
        }
        assertFalse(c.wantsPlainStep());
        int k = c.draftLength(0, 100);
        assertTrue(k >= 2, "high acceptance, free drafts: draft several, got " + k);
        assertEquals(1, c.draftLength(0, 2), "budget 2 allows one draft");
        // Rounds that lose badly: nothing accepted, each costing two plain steps.
        for (int i = 0; i < DraftController.MIN_ROUNDS_BEFORE_OFF; i++) {
            c.observeRound(0, 4, 0, 5_000_000, 15_000_000);
        }
        assertTrue(c.isOff());
        assertEquals(0, c.draftLength(0, 100));
        assertTrue(c.wantsPlainStep());
        c.reset();
        assertFalse(c.isOff());
    }

    @Test
    void aLosingDrafterIsProbedLessAndLessOften() {
        DraftController c = new DraftController(4, new DraftController.Prior[] {new DraftController.Prior(0.01, false)}, true);
        for (int i = 0; i < DraftController.WARMUP_PLAIN_STEPS; i++) {
            c.observePlain(10_000_000);
        }
        int[] probesAt = new int[4];
        int found = 0;
        for (int decision = 1; decision <= 2000 && found < 4; decision++) {
            if (c.draftLength(0, 100) > 0) {
                probesAt[found++] = decision;
                c.observeRound(0, 1, 0, 5_000_000, 12_000_000); // a probe that loses
            }
        }
        assertEquals(4, found);
        assertTrue(probesAt[2] - probesAt[1] > probesAt[1] - probesAt[0], Arrays.toString(probesAt));
        assertTrue(probesAt[3] - probesAt[2] > probesAt[2] - probesAt[1], Arrays.toString(probesAt));
    }

    @Test
    void aFixedControllerAlwaysDraftsTheMaximum() {
        DraftController c = new DraftController(4, new DraftController.Prior[] {new DraftController.Prior(0.0, false)}, false);
        assertFalse(c.wantsPlainStep());
        assertEquals(4, c.draftLength(0, 100));
        for (int i = 0; i < 50; i++) {
            c.observeRound(0, 4, 0, 5_000_000, 15_000_000);
        }
        assertFalse(c.isOff());
    }
}
