package dev.skipper.runtime;

import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import java.util.Arrays;

/**
 * A backend in plain Java arrays over {@link AbstractModelRunner}'s hooks, for testing the shared
 * half without a native runtime: embed writes the token id into every column, each layer appends
 * the row's first kvHeads*headDim values as K (V: negated) and adds 1, the head puts logit 1 at
 * {@code (int) row[0] % vocab}. {@link #failNextLayer} makes the next layer hook throw.
 */
final class ArrayRunner extends AbstractModelRunner<ArrayRunner.Rows, ArrayRunner.Cache> {
    boolean failNextLayer;
    int closeCalls;

    ArrayRunner(BundleManifest manifest) {
        super(manifest, Rows.class, Cache.class, null, false);
    }

    /** Hidden rows {@code [maxTokens][hidden]}. */
    static final class Rows extends AbstractHiddenStates {
        final float[] data;
        boolean released;

        Rows(Object owner, int maxTokens, int hidden) {
            super(owner, maxTokens, hidden);
            data = new float[maxTokens * hidden];
        }

        @Override
        protected void readCurrent(int row, int count, float[] out) {
            System.arraycopy(data, row * hiddenSize(), out, 0, count * hiddenSize());
        }

        @Override
        protected void releaseBuffers() {
            released = true;
        }
    }

    /** K and V per layer, {@code [layers][bufferRows * kvHeads * headDim]} in the geometry's layout. */
    static final class Cache extends AbstractKvCache {
        final float[][] keys;
        final float[][] values;
        int releases;

        Cache(Object owner, KvGeometry g) {
            super(owner, g);
            keys = new float[g.numLayers()][(int) (g.bufferBytes() / g.elementBytes())];
            values = new float[g.numLayers()][(int) (g.bufferBytes() / g.elementBytes())];
        }

        @Override
        protected float element(int layer, boolean value, long index) {
            return (value ? values : keys)[layer][(int) index];
        }

        @Override
        protected void releaseBuffers() {
            releases++;
        }
    }

    @Override
    protected Cache createKvCache(KvGeometry geometry) {
        return new Cache(this, geometry);
    }

    @Override
    protected Rows createHiddenStates(int maxTokens) {
        return new Rows(this, maxTokens, manifest.model().hiddenSize());
    }

    @Override
    protected void runEmbed(int[] tokens, int offset, int count, Rows out) {
        int h = out.hiddenSize();
        for (int r = 0; r < count; r++) {
            Arrays.fill(out.data, r * h, (r + 1) * h, tokens[offset + r]);
        }
    }

    @Override
    protected void runLayer(int layer, Rows hidden, int count, Cache cache, int past) throws SkipperException {
        if (failNextLayer) {
            failNextLayer = false;
            throw new SkipperException("layer " + layer + ": injected failure");
        }
        KvGeometry g = cache.geometry();
        int h = hidden.hiddenSize();
        for (int r = 0; r < count; r++) {
            for (int head = 0; head < g.kvHeads(); head++) {
                for (int d = 0; d < g.headDim(); d++) {
                    float v = hidden.data[r * h + head * g.headDim() + d];
                    int at = (int) g.elementIndex(past + r, head, d);
                    cache.keys[layer][at] = v;
                    cache.values[layer][at] = -v;
                }
            }
            for (int c = 0; c < h; c++) {
                hidden.data[r * h + c] += 1;
            }
        }
    }

    @Override
    protected void runHead(Rows hidden, int row, int count, float[] logits) {
        Arrays.fill(logits, 0, count * vocab, 0f);
        for (int r = 0; r < count; r++) {
            logits[r * vocab + ((int) hidden.data[(row + r) * hidden.hiddenSize()]) % vocab] = 1f;
        }
    }

    @Override
    protected void runCopyRows(Rows from, int fromRow, Rows to, int toRow, int count) {
        int h = from.hiddenSize();
        System.arraycopy(from.data, fromRow * h, to.data, toRow * h, count * h);
    }

    @Override
    protected void closeNative() {
        closeCalls++;
    }
}
