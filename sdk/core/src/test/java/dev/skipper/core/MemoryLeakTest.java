package dev.skipper.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipper.api.ChatMessage;
import dev.skipper.api.FinishReason;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.spi.BackendOptions;
import java.io.IOException;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * A leak check, not a timing test: many short requests in one JVM must not grow the process's
 * resident memory (native tensors, direct buffers, sessions kept reachable).
 */
class MemoryLeakTest {
    private static final Path STATUS = Path.of("/proc/self/status");

    @Test
    void aThousandShortGenerationsDoNotGrowResidentMemory() throws Exception {
        Assumptions.assumeTrue(Files.isReadable(STATUS), "needs /proc/self/status (Linux)");
        String prompt = EngineTestData.goldens("tiny-bpe-fp32").prompts().get(0).text();
        // An engine of its own with a short context: small per-session buffers keep the noise of the
        // C allocator (freed blocks it keeps) well below the growth a leak would show.
        try (DefaultEngine engine = Skipper.open(EngineTestData.bundle("tiny-bpe-fp32"), BackendOptions.DEFAULTS,
                List.of("cpu"), 128);
             DefaultSession longLived = engine.newSession()) {
            // Warm-up: JIT, ONNX Runtime arenas and cached tensors, the heap's pages first touched.
            // Measured: RSS rises ~10% over the first ~700 requests, then wobbles by a few percent
            // (the C allocator and the JIT keep or return memory as they like), so the baseline is
            // the highest of three readings late in the warm-up.
            long before = 0;
            for (int i = 0; i < 1000; i++) {
                step(engine, longLived, prompt, i);
                if (i % 50 == 49) {
                    System.gc(); // direct buffers of closed sessions are freed once collected
                }
                if (i == 599 || i == 799 || i == 999) {
                    before = Math.max(before, settledRss());
                }
            }
            long directBefore = directBytes();
            for (int i = 0; i < 1000; i++) {
                step(engine, longLived, prompt, i);
                if (i % 50 == 49) {
                    System.gc(); // direct buffers of closed sessions are freed once collected
                }
            }
            long after = settledRss();
            long directAfter = directBytes();
            System.out.printf("RSS after warm-up %d kB, after 1000 generations %d kB (%+.1f%%)%n", before, after,
                    100.0 * (after - before) / before);
            assertTrue(after <= before * 1.10, "RSS grew from " + before + " kB to " + after + " kB");
            assertEquals(1, engine.openSessionCount(), "closed sessions are not kept");
            assertEquals(directBefore, directAfter, "direct buffers of closed sessions are freed");
        }
    }

    /** One 8-token generation: on the long-lived session (reset first), every 10th on a new one, every 7th a chat. */
    private static void step(DefaultEngine engine, DefaultSession longLived, String prompt, int i) throws Exception {
        if (i % 10 == 0) {
            try (DefaultSession s = engine.newSession()) {
                assertEquals(8, s.generate(prompt, EngineTestData.greedyNoEos(8), null).tokenIds().length);
            }
            return;
        }
        longLived.reset();
        GenerationResult r = i % 7 == 0
                ? longLived.chat(List.of(ChatMessage.user("hello " + i)), EngineTestData.greedyNoEos(8), null)
                : longLived.generate(prompt, EngineTestData.greedyNoEos(8), (text, id) -> { });
        assertEquals(FinishReason.MAX_TOKENS, r.finishReason());
    }

    /** Bytes of direct buffers alive (sessions' caches and working rows). */
    private static long directBytes() {
        return ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class).stream()
                .filter(b -> b.getName().equals("direct")).mapToLong(BufferPoolMXBean::getMemoryUsed).sum();
    }

    private static long settledRss() throws IOException, InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(100);
        }
        for (String line : Files.readAllLines(STATUS)) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IllegalStateException("no VmRSS in " + STATUS);
    }
}
