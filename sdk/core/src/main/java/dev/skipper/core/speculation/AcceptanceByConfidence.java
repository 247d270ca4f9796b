package dev.skipper.core.speculation;

import java.util.List;

/**
 * A drafter's held-out acceptance as a function of its own top-1 probability: how likely a draft
 * of that confidence is to be accepted, given that the drafts before it were. Built from a
 * calibration threshold table ({@code [threshold, precision, coverage]} rows, thresholds ascending:
 * the precision and share of drafts whose confidence reaches each threshold), whose differences
 * give the acceptance of each confidence bin; the bins are then made non-decreasing in confidence
 * (pool-adjacent-violators, weighted by each bin's share), so sparse bins cannot invert the order.
 *
 * <p>Immutable; {@link #acceptance} allocates nothing.
 */
public final class AcceptanceByConfidence {
    private final double[] lower;      // [bins] lowest confidence of each bin, ascending; lower[0] = 0
    private final double[] acceptance; // [bins] held-out acceptance of drafts in the bin, non-decreasing

    private AcceptanceByConfidence(double[] lower, double[] acceptance) {
        this.lower = lower;
        this.acceptance = acceptance;
    }

    /**
     * @param table {@code [threshold, precision, coverage]} rows, thresholds ascending in (0, 1]
     * @return the map, or null for an empty table
     * @throws IllegalArgumentException for rows out of order or out of range
     */
    public static AcceptanceByConfidence fromThresholdTable(List<double[]> table) {
        int n = table.size();
        if (n == 0) {
            return null;
        }
        double[] threshold = new double[n + 1]; // bin b covers [threshold[b], threshold[b+1])
        double[] fired = new double[n + 2];     // share of drafts at or above threshold[b]
        double[] right = new double[n + 2];     // share of drafts at or above it that were accepted
        threshold[0] = 0;
        fired[0] = 1;
        for (int i = 0; i < n; i++) {
            double[] row = table.get(i);
            boolean ascending = i == 0 ? row[0] >= 0 : row[0] > threshold[i];
            if (row.length != 3 || !(ascending && row[0] <= 1) || !(row[1] >= 0 && row[1] <= 1)
                    || !(row[2] >= 0 && row[2] <= fired[i] + 1e-9)) {
                throw new IllegalArgumentException("confidence table row " + i + " out of order or out of range");
            }
            threshold[i + 1] = row[0];
            fired[i + 1] = row[2];
            right[i + 1] = row[1] * row[2];
        }
        // Drafts below the first threshold: the table does not say how many of them were accepted;
        // guess half the precision at the first threshold (pooling keeps it below the next bins).
        double[] weight = new double[n + 1];
        double[] value = new double[n + 1];
        int bins = 0;
        double[] lows = new double[n + 1];
        for (int b = 0; b <= n; b++) {
            double share = fired[b] - (b + 1 <= n ? fired[b + 1] : 0);
            if (share <= 1e-9) {
                continue;
            }
            double acc;
            if (b == 0) {
                acc = table.get(0)[1] * 0.5;
            } else {
                acc = (right[b] - (b + 1 <= n ? right[b + 1] : 0)) / share;
            }
            lows[bins] = threshold[b];
            weight[bins] = share;
            value[bins] = Math.max(0, Math.min(1, acc));
            bins++;
        }
        // Pool adjacent violators: merge neighbouring bins until the acceptance never decreases.
        double[] poolValue = new double[bins];
        double[] poolWeight = new double[bins];
        int[] poolEnd = new int[bins]; // last bin index of each pool
        int pools = 0;
        for (int b = 0; b < bins; b++) {
            poolValue[pools] = value[b];
            poolWeight[pools] = weight[b];
            poolEnd[pools] = b;
            pools++;
            while (pools > 1 && poolValue[pools - 2] > poolValue[pools - 1]) {
                double w = poolWeight[pools - 2] + poolWeight[pools - 1];
                poolValue[pools - 2] = (poolValue[pools - 2] * poolWeight[pools - 2]
                        + poolValue[pools - 1] * poolWeight[pools - 1]) / w;
                poolWeight[pools - 2] = w;
                poolEnd[pools - 2] = poolEnd[pools - 1];
                pools--;
            }
        }
        double[] outLow = new double[bins];
        double[] outAcc = new double[bins];
        int start = 0;
        for (int p = 0; p < pools; p++) {
            for (int b = start; b <= poolEnd[p]; b++) {
                outLow[b] = lows[b];
                outAcc[b] = poolValue[p];
            }
            start = poolEnd[p] + 1;
        }
        outLow[0] = 0;
        return new AcceptanceByConfidence(outLow, outAcc);
    }

    /**
     * @param confidence a draft's top-1 probability under the drafter, in [0, 1]
     * @return the held-out acceptance of drafts with that confidence
     */
    public double acceptance(double confidence) {
        int b = 0;
        while (b + 1 < lower.length && confidence >= lower[b + 1]) {
            b++;
        }
        return acceptance[b];
    }
}
