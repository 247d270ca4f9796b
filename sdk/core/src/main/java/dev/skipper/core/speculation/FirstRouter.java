package dev.skipper.core.speculation;

import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.runtime.spi.HiddenStates;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * FiRST-style per-sequence layer router (bundle {@code first_routers}): during prefill it pools
 * each layer's input rows (the last {@code poolRows} prompt rows, weightless-RMS normalised,
 * averaged); then each layer's linear router predicts the agreement kept when that layer is
 * skipped, and the {@code skipCount} best layers form this sequence's skip set. Used as a draft
 * skip set it is lossless. Not thread-safe: one per session.
 */
public final class FirstRouter {
    private final int numLayers;
    private final int hidden;
    private final int skipCount;
    private final int poolRows;
    private final double eps;
    private final float[] weights;  // [layers][hidden + 1] router weights then bias
    private final double[] pooled;  // [layers][hidden] sum of normalised rows seen this prefill
    private final int[] rows;       // [layers] rows pooled this prefill

    private FirstRouter(BundleManifest manifest, float[] weights) {
        BundleManifest.ModelDims m = manifest.model();
        this.numLayers = m.numLayers();
        this.hidden = m.hiddenSize();
        this.skipCount = manifest.firstRouters().skipCount();
        this.poolRows = manifest.firstRouters().poolRows();
        this.eps = m.rmsNormEps();
        this.weights = weights;
        this.pooled = new double[numLayers * hidden];
        this.rows = new int[numLayers];
    }

    /**
     * Loads a bundle's routers.
     *
     * @param manifest the manifest (with {@code first_routers})
     * @return the router
     * @throws SkipperException when the file cannot be read or has the wrong size
     */
    public static FirstRouter load(BundleManifest manifest) throws SkipperException {
        BundleManifest.FirstRoutersSpec spec = manifest.firstRouters();
        BundleManifest.ModelDims m = manifest.model();
        Path path = manifest.resolve(spec.file());
        long want = 4L * m.numLayers() * (m.hiddenSize() + 1);
        try {
            long size = Files.size(path);
            if (size != want) {
                throw new SkipperException(path + ": " + size + " bytes, expected " + want
                        + " (first_routers [num_layers][hidden_size + 1] float32)");
            }
            float[] w = new float[(int) (want / 4)];
            ByteBuffer.wrap(Files.readAllBytes(path)).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(w);
            for (float x : w) {
                if (!Float.isFinite(x)) {
                    throw new SkipperException(path + ": non-finite router weight");
                }
            }
            return new FirstRouter(manifest, w);
        } catch (IOException e) {
            throw new SkipperException("cannot read " + path + ": " + e.getMessage(), e);
        }
    }

    /** Forgets the pooled rows (a new prefill starts). */
    public void reset() {
        java.util.Arrays.fill(pooled, 0);
        java.util.Arrays.fill(rows, 0);
    }

    /**
     * Pools the input of {@code layer}: the last {@code poolRows} of rows {@code [0, count)} (a
     * prefill chunk; a later chunk replaces an earlier one's rows).
     *
     * @param layer the layer about to run
     * @param input its input rows
     * @param count rows
     */
    public void observe(int layer, HiddenStates input, int count) {
        int n = Math.min(poolRows, count);
        float[] x = input.read(count - n, n); // prefill only, once per layer and chunk
        int base = layer * hidden;
        java.util.Arrays.fill(pooled, base, base + hidden, 0);
        for (int r = 0; r < n; r++) {
            double ss = 0;
            for (int i = 0; i < hidden; i++) {
                double v = x[r * hidden + i];
                ss += v * v;
            }
            double inv = 1.0 / Math.sqrt(ss / hidden + eps);
            for (int i = 0; i < hidden; i++) {
                pooled[base + i] += x[r * hidden + i] * inv;
            }
        }
        rows[layer] = n;
    }

    /** @return whether every layer's input was observed since {@link #reset()} */
    public boolean ready() {
        for (int r : rows) {
            if (r == 0) {
                return false;
            }
        }
        return true;
    }

    /**
     * The predicted agreement kept when each layer alone is skipped.
     *
     * @return {@code [layers]} scores
     */
    public double[] scores() {
        double[] out = new double[numLayers];
        for (int l = 0; l < numLayers; l++) {
            int w = l * (hidden + 1);
            double s = weights[w + hidden];
            for (int i = 0; i < hidden; i++) {
                s += weights[w + i] * pooled[l * hidden + i] / Math.max(1, rows[l]);
            }
            out[l] = s;
        }
        return out;
    }

    /**
     * This sequence's skip set: the {@code skipCount} layers with the highest scores (ties to the
     * lower layer).
     *
     * @return the layers, ascending
     */
    public List<Integer> choose() {
        double[] s = scores();
        boolean[] taken = new boolean[numLayers];
        List<Integer> out = new ArrayList<>();
        for (int k = 0; k < skipCount; k++) {
            int best = -1;
            for (int l = 0; l < numLayers; l++) {
                if (!taken[l] && (best < 0 || s[l] > s[best])) {
                    best = l;
                }
            }
            taken[best] = true;
            out.add(best);
        }
        java.util.Collections.sort(out);
        return out;
    }
}
