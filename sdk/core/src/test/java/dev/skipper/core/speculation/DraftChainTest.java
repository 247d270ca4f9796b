package dev.skipper.core.speculation;

import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DraftChainTest {
    @Test
    void aFirstDraftIsKeptWhenItsAcceptancePaysForItsRow() {
        DraftChain c = new DraftChain();
        assertFalse(c.start().keep(0.24, 0.25), "0.24 expected tokens for a quarter step: a plain step is better");
        assertEquals(1.0, c.expectedTokens(), 1e-12, "a refused draft leaves the round as it was");
        assertTrue(c.start().keep(0.26, 0.25));
        assertEquals(1.26, c.expectedTokens(), 1e-12);
    }

    @Test
    void theChainStopsWhereTheNextRowWouldLowerTheRoundsRate() {
        DraftChain c = new DraftChain().start();
        assertTrue(c.keep(0.9, 0.2));  // chain 0.9: rate (1.9 / 1.2) = 1.58
        assertTrue(c.keep(0.9, 0.2));  // chain 0.81 >= 0.2 * 1.58: rate 2.71 / 1.4 = 1.94
        assertTrue(c.keep(0.6, 0.2));  // chain 0.486 >= 0.2 * 1.94: rate 3.196 / 1.6 = 2.0
        assertFalse(c.keep(0.8, 0.2), "chain 0.389 < 0.2 * 2.0 = 0.4: the fourth row would lower the rate");
        assertEquals(1 + 0.9 + 0.81 + 0.486, c.expectedTokens(), 1e-12);
        // The rule maximises the rate: the kept chain's rate beats every shorter one.
        double[] tokens = {1, 1.9, 2.71, 3.196};
        for (int k = 0; k < 3; k++) {
            assertTrue(tokens[3] / 1.6 > tokens[k] / (1 + 0.2 * k), "k = " + k);
        }
        assertTrue(tokens[3] / 1.6 > (tokens[3] + 0.3888) / 1.8, "and the refused fourth draft");
    }

    @Test
    void aFirstDraftThatCostsOnlyItsRowIsKeptWhereAComputedOneIsNot() {
        assertTrue(new DraftChain().start().keep(0.2, 0.15), "the catch-up's draft: only its verified row");
        DraftChain c = new DraftChain().start();
        assertTrue(c.keep(0.9, 0.15));
        assertTrue(c.wouldKeep(1.0, 0.22), "a certain second draft would pay for its step and row");
        assertFalse(c.wouldKeep(0.25, 0.22));
        assertFalse(c.keep(0.25, 0.22), "chain 0.225 per 0.22 of a step < the round's 1.9 / 1.15");
        assertEquals(1.9, c.expectedTokens(), 1e-12, "asking and refusing leave the chain as it was");
    }

    @Test
    void aCheapRowKeepsLongChainsAndAnExpensiveOneNone() {
        DraftChain c = new DraftChain().start();
        for (int i = 0; i < 12; i++) { // 0.5^12 = 2.4e-4 still pays for a row of 1e-6 at a rate < 2
            assertTrue(c.keep(0.5, 1e-6), "draft " + i);
        }
        assertFalse(new DraftChain().start().keep(1.0, 2.0), "a row dearer than a plain step never pays");
        assertThrows(IllegalArgumentException.class, () -> new DraftChain().start().keep(0.5, 0));
        assertThrows(IllegalArgumentException.class, () -> new DraftChain().start().keep(0.5, Double.NaN));
    }
}
