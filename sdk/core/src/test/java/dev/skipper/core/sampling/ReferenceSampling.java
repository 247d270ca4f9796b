package dev.skipper.core.sampling;

import dev.skipper.api.SamplingOptions;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.Set;

/**
 * The processed distribution written the obvious way (full sort, fresh arrays, one step after the
 * other), to test {@link Sampler} against.
 */
final class ReferenceSampling {
    private ReferenceSampling() {
    }

    static double[] distribution(float[] logits, SamplingOptions o, int... recent) {
        int v = logits.length;
        float[] w = logits.clone();
        if (o.repetitionPenalty() != 1.0) {
            Set<Integer> distinct = new LinkedHashSet<>();
            for (int t : recent) {
                distinct.add(t);
            }
            for (int t : distinct) {
                w[t] = w[t] > 0 ? (float) (w[t] / o.repetitionPenalty()) : (float) (w[t] * o.repetitionPenalty());
            }
        }
        Integer[] ids = new Integer[v];
        for (int i = 0; i < v; i++) {
            ids[i] = i;
        }
        // Higher logit first, lower id on ties.
        Arrays.sort(ids, Comparator.<Integer>comparingDouble(i -> -w[i]).thenComparingInt(i -> i));
        double[] p = new double[v];
        if (o.greedy()) {
            p[ids[0]] = 1.0;
            return p;
        }
        int kept = o.topK() > 0 ? Math.min(o.topK(), v) : v;
        double max = w[ids[0]];
        for (int j = 0; j < kept; j++) {
            p[ids[j]] = Math.exp((w[ids[j]] - max) / o.temperature());
        }
        normalise(p);
        if (o.topP() < 1.0) {
            double cumulative = 0;
            int m = 0;
            while (m < kept) {
                cumulative += p[ids[m++]];
                if (cumulative >= o.topP()) {
                    break;
                }
            }
            for (int j = m; j < v; j++) {
                p[ids[j]] = 0;
            }
            normalise(p);
        }
        if (o.minP() > 0) {
            double cut = o.minP() * p[ids[0]];
            for (int i = 0; i < v; i++) {
                if (p[i] < cut) {
                    p[i] = 0;
                }
            }
            normalise(p);
        }
        return p;
    }

    private static void normalise(double[] p) {
        double sum = 0;
        for (double x : p) {
            sum += x;
        }
        for (int i = 0; i < p.length; i++) {
            p[i] /= sum;
        }
    }
}
