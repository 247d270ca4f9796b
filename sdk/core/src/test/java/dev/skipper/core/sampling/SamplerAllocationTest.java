package dev.skipper.core.sampling;

import dev.skipper.api.SamplingOptions;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Random;
import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Checks that the per-token calls allocate nothing, with HotSpot's per-thread allocation counter. */
class SamplerAllocationTest {

    @Test
    void nextAndProbabilitiesDoNotAllocate() {
        ThreadMXBean bean = ManagementFactory.getThreadMXBean();
        assumeTrue(bean instanceof com.sun.management.ThreadMXBean, "needs HotSpot's allocation counter");
        com.sun.management.ThreadMXBean hotspot = (com.sun.management.ThreadMXBean) bean;
        assumeTrue(hotspot.isThreadAllocatedMemorySupported() && hotspot.isThreadAllocatedMemoryEnabled());

        int vocab = 1024;
        Random rnd = new Random(1);
        float[] logits = new float[vocab];
        for (int i = 0; i < vocab; i++) {
            logits[i] = (float) rnd.nextGaussian();
        }
        float[] out = new float[vocab];
        RecentTokens recent = new RecentTokens(256, 64);
        for (int i = 0; i < 100; i++) {
            recent.add(rnd.nextInt(vocab));
        }
        SamplingOptions[] options = {
            SamplingOptions.GREEDY,
            new SamplingOptions(true, 1, 0, 1, 0, 1.3, 0),
            new SamplingOptions(false, 0.8, 0, 1, 0, 1, 0),
            new SamplingOptions(false, 0.8, 40, 0.9, 0.05, 1.2, 0),
            new SamplingOptions(false, 0.8, 0, 0.9, 0, 1.2, 0),
        };
        FloatBuffer direct = ByteBuffer.allocateDirect(vocab * Float.BYTES).order(ByteOrder.nativeOrder()).asFloatBuffer();
        direct.put(logits).flip();
        Sampler s = new Sampler(vocab);
        s.begin(42);
        Runnable round = () -> {
            for (SamplingOptions o : options) {
                s.next(logits, 0, o, recent);
                s.probabilities(logits, 0, o, recent, out, 0);
                s.next(direct, 0, o, recent);
            }
            s.sample(out, 0);
        };
        for (int i = 0; i < 1000; i++) { // let the JIT settle
            round.run();
        }
        long before = hotspot.getCurrentThreadAllocatedBytes();
        for (int i = 0; i < 300; i++) {
            round.run();
        }
        long allocated = hotspot.getCurrentThreadAllocatedBytes() - before;
        // 16 calls per round x 300 rounds: even one 16-byte object per call would be 76 KB.
        assertTrue(allocated < 4096, "allocated " + allocated + " bytes over 4800 calls");
    }
}
