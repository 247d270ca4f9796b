package dev.skipper.core.speculation;

import dev.skipper.bundle.BundleManifest.ExitHeadSpec;
import dev.skipper.bundle.BundleManifest.SpeculationSpec;
import java.util.List;

/**
 * How the runtime reads a bundle's calibration ({@code ./skipper calibrate}): which thresholds
 * reach a precision, whether a calibrated method pays. The manifest only carries the measured
 * tables; the decisions made from them live here, next to the drafters and adaptive depth that
 * use them.
 *
 * <p>A threshold table's rows are {@code [threshold, held-out precision, held-out coverage]},
 * thresholds ascending.
 */
public final class CalibrationPolicy {
    private CalibrationPolicy() {
    }

    /**
     * @param calibrated the bundle's layer-skip calibration
     * @return whether calibration estimated that layer-skip drafting beats plain decoding
     */
    public static boolean pays(SpeculationSpec calibrated) {
        return calibrated.estimatedSpeedup() > 1.0;
    }

    /**
     * @param threshold a drafter's stop threshold
     * @return it, when in [0, 1]
     * @throws IllegalArgumentException otherwise
     */
    public static double checkThreshold(double threshold) {
        if (!(threshold >= 0 && threshold <= 1)) {
            throw new IllegalArgumentException("confidence threshold must be in [0, 1], got " + threshold);
        }
        return threshold;
    }

    /**
     * @param feature a trained feature drafter
     * @return whether calibration estimated that drafting with it beats plain decoding
     */
    public static boolean pays(dev.skipper.bundle.BundleManifest.FeatureDrafterSpec feature) {
        return feature.estimatedSpeedup() > 1.0;
    }

    /**
     * @param exit a calibrated exit head
     * @return whether the exit's own top-1 probability separates accepted from rejected drafts
     *     better than its router on held-out text (then drafting stops on it)
     */
    public static boolean confidenceRanksBetter(ExitHeadSpec exit) {
        return exit.confidenceAuc() > exit.routerAuc();
    }

    /**
     * The lowest router threshold whose held-out precision reaches {@code precision}.
     *
     * @param exit a calibrated exit head
     * @param precision wanted fraction of router firings that agree with the full model
     * @return the threshold, or {@code Double.NaN} when no threshold reaches it
     */
    public static double routerThreshold(ExitHeadSpec exit, double precision) {
        return lowest(exit.router(), precision, 0);
    }

    /**
     * The lowest threshold on the exit's own top-1 probability (softmax over the draft
     * vocabulary, CALM style) whose held-out precision reaches {@code precision}.
     *
     * @param exit a calibrated exit head
     * @param precision wanted fraction of firings that agree with the full model
     * @return the threshold, or {@code Double.NaN} when none reaches it
     */
    public static double confidenceThreshold(ExitHeadSpec exit, double precision) {
        return lowest(exit.confidence(), precision, 0);
    }

    /**
     * The lowest router threshold at which the wanted precision is reached with 95 % confidence:
     * the one-sided Wilson lower bound of the held-out precision, over the {@code coverage x
     * heldOut} firings the row counts, reaches {@code precision}. Why: the lowest threshold whose
     * measured precision reaches it is picked among many rows measured on a few hundred firings,
     * so it is the row whose estimate came out luckiest; the bound keeps a lossy mode's promise on
     * other text. {@code heldOut} 0 (unknown) falls back to the measured precision.
     *
     * @param exit a calibrated exit head
     * @param precision wanted fraction of router firings that agree with the full model
     * @param heldOut held-out tokens the table was measured on, or 0
     * @return the threshold, or {@code Double.NaN} when no threshold reaches it
     */
    public static double routerThreshold(ExitHeadSpec exit, double precision, int heldOut) {
        return lowest(exit.router(), precision, heldOut);
    }

    /**
     * {@link #confidenceThreshold(ExitHeadSpec, double)} with the precision's 95 % lower bound, as
     * {@link #routerThreshold(ExitHeadSpec, double, int)}.
     *
     * @param exit a calibrated exit head
     * @param precision wanted fraction of firings that agree with the full model
     * @param heldOut held-out tokens the table was measured on, or 0
     * @return the threshold, or {@code Double.NaN} when none reaches it
     */
    public static double confidenceThreshold(ExitHeadSpec exit, double precision, int heldOut) {
        return lowest(exit.confidence(), precision, heldOut);
    }

    /** One-sided 95 % normal quantile. */
    private static final double Z = 1.6448536269514722;

    /**
     * Wilson score lower bound of a proportion.
     *
     * @param measured the measured proportion, in [0, 1]
     * @param trials how many trials it was measured on (may be fractional: coverage x tokens)
     * @return the one-sided 95 % lower bound; 0 without trials
     */
    static double lowerBound(double measured, double trials) {
        if (!(trials > 0)) {
            return 0;
        }
        double z2 = Z * Z;
        double centre = measured + z2 / (2 * trials);
        double spread = Z * Math.sqrt(measured * (1 - measured) / trials + z2 / (4 * trials * trials));
        return (centre - spread) / (1 + z2 / trials);
    }

    /**
     * Held-out share of tokens a table's threshold lets exit.
     *
     * @param table {@link ExitHeadSpec#router()} or {@link ExitHeadSpec#confidence()}
     * @param threshold one of its thresholds
     * @return the coverage, or 0 when the threshold is not in the table
     */
    public static double coverage(List<double[]> table, double threshold) {
        for (double[] row : table) {
            if (row[0] == threshold) {
                return row[2];
            }
        }
        return 0;
    }

    private static double lowest(List<double[]> table, double precision, int heldOut) {
        for (double[] row : table) {
            double p = heldOut > 0 ? lowerBound(row[1], row[2] * heldOut) : row[1];
            if (p >= precision && row[2] > 0) {
                return row[0];
            }
        }
        return Double.NaN;
    }
}
