package dev.skipper.core.speculation;

import dev.skipper.bundle.BundleManifest.ExitHeadSpec;
import dev.skipper.bundle.BundleManifest.GraphSpec;
import dev.skipper.bundle.BundleManifest.SpeculationSpec;
import java.util.List;
import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CalibrationPolicyTest {
    // [threshold, precision, coverage], thresholds ascending.
    private static final List<double[]> ROUTER = List.of(new double[] {0.25, 0.6, 0.9}, new double[] {0.5, 0.8, 0.5},
            new double[] {0.75, 0.95, 0.1}, new double[] {0.9, 1.0, 0.0});
    private static final List<double[]> CONFIDENCE = List.of(new double[] {0.3, 0.85, 0.4});

    private static ExitHeadSpec exit(double routerAuc, double confidenceAuc) {
        return new ExitHeadSpec(1, new GraphSpec("draft/exit_1.onnx", List.of(), List.of()), 0.5, 0.25, 0.9, ROUTER,
                CONFIDENCE, routerAuc, confidenceAuc);
    }

    @Test
    void thresholdsAreTheLowestThatReachThePrecisionWithSomeCoverage() {
        ExitHeadSpec e = exit(0.8, 0.7);
        assertEquals(0.25, CalibrationPolicy.routerThreshold(e, 0.6), 1e-12);
        assertEquals(0.5, CalibrationPolicy.routerThreshold(e, 0.8), 1e-12);
        assertEquals(0.75, CalibrationPolicy.routerThreshold(e, 0.9), 1e-12);
        assertTrue(Double.isNaN(CalibrationPolicy.routerThreshold(e, 0.99)), "precision 1.0 only with no coverage");
        assertEquals(0.3, CalibrationPolicy.confidenceThreshold(e, 0.8), 1e-12);
        assertTrue(Double.isNaN(CalibrationPolicy.confidenceThreshold(e, 0.9)));
        assertEquals(0.5, CalibrationPolicy.coverage(ROUTER, 0.5), 1e-12);
        assertEquals(0, CalibrationPolicy.coverage(ROUTER, 0.6), "not a threshold of the table");
    }

    @Test
    void withAHeldOutCountThePrecisionMustHoldWith95PercentConfidence() {
        List<double[]> table = List.of(new double[] {0.5, 0.98, 0.2}, new double[] {0.9, 1.0, 0.1});
        ExitHeadSpec e = new ExitHeadSpec(1, new GraphSpec("draft/exit_1.onnx", List.of(), List.of()), 0.5, 0.25, 0.9,
                table, table, 0.7, 0.7);
        // 200 firings at 98 %: the bound is 0.956, below 0.97; 100 firings at 100 %: 0.9737.
        assertEquals(0.9562, CalibrationPolicy.lowerBound(0.98, 200), 1e-4);
        assertEquals(1 / (1 + 1.6448536269514722 * 1.6448536269514722 / 100), CalibrationPolicy.lowerBound(1.0, 100),
                1e-12);
        assertEquals(0.5, CalibrationPolicy.routerThreshold(e, 0.97), 1e-12, "the measured precision alone");
        assertEquals(0.9, CalibrationPolicy.routerThreshold(e, 0.97, 1000), 1e-12);
        assertEquals(0.9, CalibrationPolicy.confidenceThreshold(e, 0.97, 1000), 1e-12);
        assertEquals(0.5, CalibrationPolicy.routerThreshold(e, 0.97, 0), 1e-12, "0: the count is unknown");
        assertTrue(Double.isNaN(CalibrationPolicy.routerThreshold(e, 0.97, 300)), "30 firings at 100 % are too few");
        assertEquals(0, CalibrationPolicy.lowerBound(1.0, 0));
    }

    @Test
    void theBetterRankingSignalAndWhetherSkippingPays() {
        assertFalse(CalibrationPolicy.confidenceRanksBetter(exit(0.8, 0.7)));
        assertTrue(CalibrationPolicy.confidenceRanksBetter(exit(0.7, 0.8)));
        assertFalse(CalibrationPolicy.pays(new SpeculationSpec(List.of(1), 0.86, 0.84)));
        assertFalse(CalibrationPolicy.pays(new SpeculationSpec(List.of(1), 1.0, 0.84)));
        assertTrue(CalibrationPolicy.pays(new SpeculationSpec(List.of(1), 1.01, 0.84)));
    }
}
