package dev.skipper.core.speculation;

import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The controller's handling of a self-limiting drafter (the trained feature drafter). */
class DraftControllerTest {
    private static final long PLAIN = 10_000_000;

    private static DraftController warm(DraftController.Prior prior) {
        DraftController c = new DraftController(6, new DraftController.Prior[] {prior}, true);
        for (int i = 0; i < DraftController.WARMUP_PLAIN_STEPS; i++) {
            c.observePlain(PLAIN);
        }
        return c;
    }

    @Test
    void aSelfLimitingDrafterGetsTheWholeBudgetWhileItsRoundsPay() {
        DraftController c = warm(new DraftController.Prior(0.1, true));
        assertEquals(6, c.draftLength(0, 100), "low prior acceptance does not cut its length: it stops itself");
        assertEquals(3, c.draftLength(0, 4), "but the budget does");
        for (int i = 0; i < 30; i++) { // 2.5 tokens per round at 1.5 plain steps
            c.observeRound(0, 3, 1 + i % 2, 1_000_000, 14_000_000);
            assertEquals(6, c.draftLength(0, 100), "round " + i);
        }
        assertFalse(c.isOff());
    }

    @Test
    void emptyRoundsCountAgainstItAndALosingDrafterBacksOff() {
        DraftController c = warm(new DraftController.Prior(0.5, true));
        int drafted = 0;
        for (int i = 0; i < 200; i++) {
            if (c.wantsPlainStep()) {
                c.observePlain(PLAIN);
                continue;
            }
            if (c.draftLength(0, 100) == 0) {
                c.observePlain(PLAIN);
                continue;
            }
            drafted++;
            c.observeEmpty(0, 2_000_000); // drafted, found nothing worth verifying, then a plain step
            c.observePlain(PLAIN);
        }
        assertTrue(drafted >= DraftController.COST_WARMUP_ROUNDS && drafted < 20,
                "a drafter whose rounds only cost time is probed less and less: drafted " + drafted);
    }

    @Test
    void theVerifiedRowsCostFollowsMeasuredVerifications() {
        DraftController c = warm(new DraftController.Prior(0.5, true));
        assertEquals(PLAIN, c.plainStepNanos(), 1e-6);
        double before = c.verifyRowCost();
        for (int i = 0; i < 100; i++) {
            c.observeRound(0, 2, 1, 1_000_000, 16_000_000); // 2 extra rows cost 0.6 of a step: 0.3 each
        }
        double after = c.verifyRowCost();
        assertTrue(after > before + 0.1 && after <= 0.3 + 1e-9, "measured rows cost more: " + before + " -> " + after);
    }

    @Test
    void aLookupMatchIsPassedOverWhenTheTrainedDrafterPaysMore() {
        DraftController c = new DraftController(4, new DraftController.Prior[] {
                new DraftController.Prior(0.6, false), new DraftController.Prior(0.5, true)}, true);
        for (int i = 0; i < DraftController.WARMUP_PLAIN_STEPS; i++) {
            c.observePlain(PLAIN);
        }
        assertTrue(c.freeDraftsPay(0), "nothing measured yet: verify the match");
        // The trained drafter's rounds: 1.5 tokens per 1.2 plain steps.
        for (int i = 0; i < 10; i++) {
            c.observeRound(1, 2, 1, 1_500_000, 10_500_000);
            c.observeRound(1, 2, 0, 1_500_000, 10_500_000);
        }
        // Lookup rounds that mostly fail: 1 token per 1.5 plain steps (speculation as a whole still pays).
        for (int i = 0; i < 10; i++) {
            c.observeRound(0, 3, 0, 10_000, 15_000_000);
        }
        assertFalse(c.isOff(), "the rounds together still beat plain decoding");
        int verified = 0;
        for (int i = 0; i < 2 * DraftController.REPROBE_EVERY; i++) {
            verified += c.freeDraftsPay(0) ? 1 : 0;
        }
        assertEquals(2, verified, "passed over, but verified once every " + DraftController.REPROBE_EVERY);
        // A round of the lookup's own (verified after the trained drafter drafted nothing) measured it:
        // the count of pass-overs starts again.
        for (int i = 0; i < DraftController.REPROBE_EVERY - 2; i++) {
            assertFalse(c.freeDraftsPay(0));
        }
        c.observeRound(0, 3, 0, 10_000, 15_000_000);
        for (int i = 0; i < DraftController.REPROBE_EVERY - 1; i++) {
            assertFalse(c.freeDraftsPay(0), "pass-over " + i + " since the lookup's last round");
        }
        assertTrue(c.freeDraftsPay(0), "verified again " + DraftController.REPROBE_EVERY + " pass-overs after its last round");
        // Lookup rounds that succeed: 4 tokens per 1.3 plain steps beat the trained drafter's rounds.
        for (int i = 0; i < 30; i++) {
            c.observeRound(0, 3, 3, 10_000, 13_000_000);
        }
        assertTrue(c.freeDraftsPay(0), "a lookup accepted in full beats 1.5 tokens per 1.2 steps");
        assertFalse(c.isOff());
    }
}
