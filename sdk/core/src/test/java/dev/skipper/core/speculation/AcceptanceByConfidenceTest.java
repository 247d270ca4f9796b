package dev.skipper.core.speculation;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AcceptanceByConfidenceTest {
    /**
     * A threshold table as calibration writes it ({@code threshold_table}: precision and share of
     * drafts at or above each threshold), from drafts whose bins have known shares and acceptance.
     */
    private static List<double[]> table(double[] thresholds, double[] share, double[] acceptance) {
        List<double[]> rows = new ArrayList<>();
        for (int t = 0; t < thresholds.length; t++) {
            double fired = 0;
            double right = 0;
            for (int b = t + 1; b < share.length; b++) { // bin b (>= 1) starts at thresholds[b - 1]
                fired += share[b];
                right += share[b] * acceptance[b];
            }
            rows.add(new double[] {thresholds[t], fired > 0 ? right / fired : 1.0, fired});
        }
        return rows;
    }

    @Test
    void binsGiveBackTheAcceptanceOfEachConfidenceRange() {
        double[] thresholds = {0.25, 0.5, 0.75};
        AcceptanceByConfidence m = AcceptanceByConfidence.fromThresholdTable(
                table(thresholds, new double[] {0.2, 0.3, 0.3, 0.2}, new double[] {0.05, 0.3, 0.6, 0.9}));
        assertEquals(0.3, m.acceptance(0.25), 1e-9);
        assertEquals(0.3, m.acceptance(0.49), 1e-9);
        assertEquals(0.6, m.acceptance(0.5), 1e-9);
        assertEquals(0.9, m.acceptance(0.99), 1e-9);
        assertEquals(0.9, m.acceptance(1.0), 1e-9);
        // Below the first threshold the table says nothing exact: at most the first bin's value.
        assertTrue(m.acceptance(0.1) <= 0.3, "below the first threshold: " + m.acceptance(0.1));
    }

    @Test
    void binsThatInvertTheOrderArePooled() {
        double[] thresholds = {0.25, 0.5, 0.75};
        AcceptanceByConfidence m = AcceptanceByConfidence.fromThresholdTable(
                table(thresholds, new double[] {0.1, 0.3, 0.3, 0.3}, new double[] {0.0, 0.7, 0.4, 0.9}));
        assertEquals(0.55, m.acceptance(0.3), 1e-9, "0.7 and 0.4 at equal shares pool to 0.55");
        assertEquals(0.55, m.acceptance(0.6), 1e-9);
        assertEquals(0.9, m.acceptance(0.8), 1e-9);
        double last = 0;
        for (double c = 0; c <= 1.0; c += 0.01) {
            assertTrue(m.acceptance(c) >= last, "non-decreasing at " + c);
            last = m.acceptance(c);
        }
    }

    @Test
    void emptyRangesAreSkippedAndBadTablesRefused() {
        // Nothing fires at 0.75 or above: that range has no bin, the one below it reaches 1.
        AcceptanceByConfidence m = AcceptanceByConfidence.fromThresholdTable(
                table(new double[] {0.25, 0.5, 0.75}, new double[] {0.5, 0.25, 0.25, 0.0},
                        new double[] {0.1, 0.4, 0.8, 0.0}));
        assertEquals(0.8, m.acceptance(0.9), 1e-9);
        assertNull(AcceptanceByConfidence.fromThresholdTable(List.of()), "an empty table maps nothing");
        AcceptanceByConfidence fromZero = AcceptanceByConfidence.fromThresholdTable(
                List.of(new double[] {0.0, 0.5, 1.0}, new double[] {0.5, 0.8, 0.5}));
        assertEquals(0.2, fromZero.acceptance(0.3), 1e-9, "a first threshold of 0 is a table too");
        assertEquals(0.8, fromZero.acceptance(0.7), 1e-9);
        assertThrows(IllegalArgumentException.class, () -> AcceptanceByConfidence.fromThresholdTable(
                List.of(new double[] {0.5, 0.5, 0.5}, new double[] {0.4, 0.5, 0.4})), "thresholds out of order");
        assertThrows(IllegalArgumentException.class, () -> AcceptanceByConfidence.fromThresholdTable(
                List.of(new double[] {0.5, 1.5, 0.5})), "precision above 1");
        assertThrows(IllegalArgumentException.class, () -> AcceptanceByConfidence.fromThresholdTable(
                List.of(new double[] {0.4, 0.5, 0.5}, new double[] {0.5, 0.5, 0.6})), "coverage must not grow");
    }
}
