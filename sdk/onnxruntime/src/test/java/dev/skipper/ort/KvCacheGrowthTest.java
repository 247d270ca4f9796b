package dev.skipper.ort;

import ai.onnxruntime.OrtEnvironment;
import dev.skipper.runtime.KvGeometry;
import dev.skipper.runtime.spi.HiddenStates;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A KV cache that grows with its sequence computes exactly what a preallocated one computes: the
 * same logits bit for bit and the same cached rows, through growths, rollbacks across a growth and
 * both layouts and dtypes.
 */
class KvCacheGrowthTest {
    static Stream<String> cases() {
        // head_major_shared float32 with a scratch row; sequence_major float32 and float16.
        return Stream.of("tiny-spm-int4", "tiny-bpe-fp32-standard", "tiny-bpe-fp16-standard");
    }

    @ParameterizedTest
    @MethodSource("cases")
    void aGrowingCacheGivesThePreallocatedOnesLogitsAndRows(String name) throws Exception {
        OrtModelRunner r = TestCases.runner(name);
        int layers = r.manifest().model().numLayers();
        int maxSeq = 300;
        KvGeometry g = KvGeometry.of(r.manifest(), maxSeq);
        int[] ids = randomIds(r, maxSeq, 7);
        // Chunks that cross the growths 4 -> 8 -> 16 -> ... -> 300 at odd offsets, single tokens
        // across a boundary, and one chunk larger than the rows held.
        int[] chunks = {3, 1, 1, 2, 9, 1, 1, 1, 30, 64, 1, 1, 60, 64, 64};
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtKvCache whole = new OrtKvCache(env, r, g, maxSeq);
             OrtKvCache grown = new OrtKvCache(env, r, g, 4);
             HiddenStates hs = r.newHiddenStates(64)) {
            long rowBytes = g.rowBytes();
            assertEquals(2L * layers * (4 + g.scratchRows()) * rowBytes, grown.heldBytes(), "starts at 4 tokens");
            assertEquals(2L * layers * g.bufferRows() * rowBytes, whole.heldBytes(), "the whole capacity");
            int at = 0;
            for (int i = 0; at < maxSeq; i++) {
                int n = Math.min(chunks[i % chunks.length], maxSeq - at);
                float[] a = TestCases.forward(r, hs, whole, ids, at, n, true);
                float[] b = TestCases.forward(r, hs, grown, ids, at, n, true);
                assertArrayEquals(a, b, name + ": logits of tokens " + at + "+" + n);
                at += n;
                if (i == 8) { // roll back across the growth 32 -> 64 that this chunk caused, then go on from there
                    at -= 20;
                    whole.truncate(at);
                    grown.truncate(at);
                }
            }
            assertEquals(maxSeq, grown.length(0));
            assertEquals(2L * layers * g.bufferRows() * rowBytes, grown.heldBytes(), "grown to the capacity, no further");
            for (int l = 0; l < layers; l++) {
                for (boolean value : new boolean[] {false, true}) {
                    assertArrayEquals(whole.read(l, value, 0, maxSeq), grown.read(l, value, 0, maxSeq),
                            name + ": layer " + l + (value ? " values" : " keys"));
                }
            }
            assertThrows(dev.skipper.api.SkipperException.class,
                    () -> TestCases.forward(r, hs, grown, ids, 0, 1, false), "full: no room past the capacity");
        }
    }

    @ParameterizedTest
    @MethodSource("cases")
    void aLayerGrowsByItsOwnLengthAndKeepsOnlyItsValidRows(String name) throws Exception {
        OrtModelRunner r = TestCases.runner(name);
        int layers = r.manifest().model().numLayers();
        KvGeometry g = KvGeometry.of(r.manifest(), 64);
        int[] ids = randomIds(r, 64, 11);
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtKvCache whole = new OrtKvCache(env, r, g, 64);
             OrtKvCache grown = new OrtKvCache(env, r, g, 8);
             HiddenStates hs = r.newHiddenStates(16)) {
            TestCases.forward(r, hs, whole, ids, 0, 8, false);
            TestCases.forward(r, hs, grown, ids, 0, 8, false);
            // Early-exit drafting's shape: layer 0 alone runs 5 more tokens (it grows: 8 -> 16), then
            // they are rolled back to 2 and the full stack runs from there.
            r.embed(ids, 8, 5, hs);
            r.layer(0, hs, 5, whole);
            r.embed(ids, 8, 5, hs);
            r.layer(0, hs, 5, grown);
            whole.truncateLayer(0, 10);
            grown.truncateLayer(0, 10);
            assertEquals(10, grown.length(0));
            assertEquals(8, grown.length(layers - 1));
            for (int l = 1; l < layers; l++) {
                r.embed(ids, 8, 2, hs); // hidden rows of layer l-1 would do; the cache is what is compared
                r.layer(l, hs, 2, whole);
                r.embed(ids, 8, 2, hs);
                r.layer(l, hs, 2, grown);
            }
            float[] a = TestCases.forward(r, hs, whole, ids, 10, 16, true);
            float[] b = TestCases.forward(r, hs, grown, ids, 10, 16, true);
            assertArrayEquals(a, b, name + ": logits after a per-layer growth and rollback");
            for (int l = 0; l < layers; l++) {
                assertArrayEquals(whole.read(l, false, 0, 26), grown.read(l, false, 0, 26), name + ": keys of " + l);
                assertArrayEquals(whole.read(l, true, 0, 26), grown.read(l, true, 0, 26), name + ": values of " + l);
            }
            assertTrue(grown.heldBytes() < whole.heldBytes(), "32 of 64 tokens held");
        }
    }

    /** {@code n} token ids drawn uniformly from the vocabulary, reproducibly. */
    private static int[] randomIds(OrtModelRunner r, int n, long seed) {
        return new Random(seed).ints(n, 0, r.manifest().model().vocabSize()).toArray();
    }
}
