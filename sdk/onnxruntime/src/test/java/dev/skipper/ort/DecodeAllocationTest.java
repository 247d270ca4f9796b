package dev.skipper.ort;

import dev.skipper.bundle.BundleManifest;
import dev.skipper.runtime.spi.HiddenStates;
import dev.skipper.runtime.spi.KvCache;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Java heap allocated per decode step (embed + every layer + head, one token), with HotSpot's
 * per-thread allocation counter. On a head_major_shared bundle our code creates no tensor per step;
 * what remains is ONNX Runtime's own Java wrapper of each {@code run()} (name and handle arrays and
 * the {@code Result}), which its API gives no way to reuse.
 */
class DecodeAllocationTest {
    /** Bytes ONNX Runtime's Java {@code OrtSession.run(inputs, pinnedOutputs)} allocates per call, at most. */
    private static final long ORT_RUN_BYTES = 800;

    @Test
    void aDecodeStepAllocatesOnlyWhatOrtSessionRunDoes() throws Exception {
        ThreadMXBean bean = ManagementFactory.getThreadMXBean();
        assumeTrue(bean instanceof com.sun.management.ThreadMXBean, "needs HotSpot's allocation counter");
        com.sun.management.ThreadMXBean hotspot = (com.sun.management.ThreadMXBean) bean;
        assumeTrue(hotspot.isThreadAllocatedMemorySupported() && hotspot.isThreadAllocatedMemoryEnabled());

        OrtModelRunner r = TestCases.runner("tiny-bpe-fp32");
        BundleManifest m = r.manifest();
        assertTrue(m.kvCache().layout() == BundleManifest.KvLayout.HEAD_MAJOR_SHARED, "the ort flavour shares KV buffers");
        int layers = m.model().numLayers();
        int steps = 200;
        int[] token = {5};
        float[] logits = new float[m.model().vocabSize()];
        try (KvCache kv = r.newKvCache(steps + 8); HiddenStates hs = r.newHiddenStates(4)) {
            for (int i = 0; i < steps; i++) { // warm up: JIT, lazily created per-count tensors
                step(r, hs, kv, token, layers, logits);
            }
            kv.truncate(0);
            long before = hotspot.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < steps; i++) {
                step(r, hs, kv, token, layers, logits);
            }
            long perStep = (hotspot.getCurrentThreadAllocatedBytes() - before) / steps;
            long runs = layers + 2;
            System.out.printf("decode step: %d bytes allocated (%d runs, %d bytes per run)%n", perStep, runs,
                    perStep / runs);
            assertTrue(perStep <= runs * ORT_RUN_BYTES, perStep + " bytes per decode step over " + runs + " runs");
        }
    }

    private static void step(OrtModelRunner r, HiddenStates hs, KvCache kv, int[] token, int layers, float[] logits)
            throws Exception {
        r.embed(token, 0, 1, hs);
        for (int l = 0; l < layers; l++) {
            r.layer(l, hs, 1, kv);
        }
        r.head(hs, 0, 1, logits);
    }
}
