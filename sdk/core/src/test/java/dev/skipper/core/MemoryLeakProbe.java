package dev.skipper.core;

import dev.skipper.api.AdaptiveDepth;
import dev.skipper.api.ChatMessage;
import dev.skipper.api.FinishReason;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.SpeculationMode;
import dev.skipper.runtime.spi.BackendOptions;
import java.io.IOException;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The body of {@link MemoryLeakTest}, run in a JVM of its own so that its resident memory is not
 * blurred by other tests, the optimizing JIT or the C allocator's caches. Prints {@code key=value}
 * lines for the test to check.
 *
 * <p>Usage: {@code MemoryLeakProbe CASE} with {@code -Dskipper.testData=DIR}.
 */
final class MemoryLeakProbe {
    private static final Path STATUS = Path.of("/proc/self/status");
    /**
     * Generations before the first reading: JIT, ONNX Runtime arenas and cached tensors settle.
     * Traced over 35,000 generations (RSS with the JVM's native memory tracking): the client
     * compiler's code and RSS step up by up to 6 MB until ~7,000, then stay flat within 0.1 MB.
     */
    static final int WARM_UP = 8000;
    /** Generations per window of readings (one reading every {@link #READ_EVERY}). */
    static final int WINDOW = 1000;
    static final int READ_EVERY = 200;
    /** Generations between the two windows. */
    static final int GAP = 3000;

    private MemoryLeakProbe() {
    }

    public static void main(String[] args) throws Exception {
        String name = args[0];
        String prompt = EngineTestData.goldens(name).prompts().get(0).text();
        // An engine of its own with a short context: small per-session buffers.
        try (DefaultEngine engine = Skipper.open(EngineTestData.bundle(name), BackendOptions.DEFAULTS,
                List.of("cpu"), 128);
             DefaultSession longLived = engine.newSession()) {
            for (int i = 0; i < WARM_UP; i++) {
                step(engine, longLived, prompt, i);
            }
            long heapBefore = usedHeap();
            long directBefore = directBytes();
            long earlyHighest = window(engine, longLived, prompt, true);
            for (int i = 0; i < GAP; i++) {
                step(engine, longLived, prompt, i);
            }
            long lateLowest = window(engine, longLived, prompt, false);
            System.out.println("rss_early_highest_kb=" + earlyHighest);
            System.out.println("rss_late_lowest_kb=" + lateLowest);
            System.out.println("heap_before=" + heapBefore);
            System.out.println("heap_after=" + usedHeap());
            System.out.println("direct_before=" + directBefore);
            System.out.println("direct_after=" + directBytes());
            System.out.println("open_sessions=" + engine.openSessionCount());
        }
    }

    /**
     * Every decoding path in turn, 8 greedy tokens each: plain, the speculative drafters (prompt
     * lookup, early exit, calibrated exit head, FiRST-routed layer skip) and lossy adaptive depth.
     */
    private static final GenerationOptions[] PATHS = {
        EngineTestData.greedyNoEos(8),
        EngineTestData.greedyNoEos(8).withSpeculation(SpeculationMode.NGRAM),
        EngineTestData.greedyNoEos(8).withSpeculation(SpeculationMode.EARLY_EXIT),
        EngineTestData.greedyNoEos(8).withSpeculation(SpeculationMode.EXIT_HEAD),
        EngineTestData.greedyNoEos(8).withSpeculation(SpeculationMode.LAYER_SKIP),
        EngineTestData.greedyNoEos(8).withAdaptiveDepth(AdaptiveDepth.lossy(0.97)),
    };

    /**
     * One generation: on the long-lived session (reset first), every 10th on a new one, every 7th a
     * chat; the decoding path cycles through {@link #PATHS}.
     */
    private static void step(DefaultEngine engine, DefaultSession longLived, String prompt, int i) throws Exception {
        if (i % 50 == 49) {
            System.gc(); // direct buffers of closed sessions are freed once collected
        }
        if (i % 10 == 0) {
            try (DefaultSession s = engine.newSession()) {
                check(s.generate(prompt, PATHS[(i / 10) % PATHS.length], null).tokenIds().length == 8, i);
            }
            return;
        }
        longLived.reset();
        GenerationOptions options = PATHS[i % PATHS.length];
        GenerationResult r = i % 7 == 0
                ? longLived.chat(List.of(ChatMessage.user("hello " + i)), options, null)
                : longLived.generate(prompt, options, (text, id) -> { });
        check(r.finishReason() == FinishReason.MAX_TOKENS, i);
    }

    private static void check(boolean ok, int i) {
        if (!ok) {
            throw new IllegalStateException("generation " + i + " did not produce its 8 tokens");
        }
    }

    /**
     * {@link #WINDOW} generations with a resident-memory reading after every {@link #READ_EVERY};
     * returns the highest reading when {@code highest}, else the lowest.
     */
    private static long window(DefaultEngine engine, DefaultSession longLived, String prompt, boolean highest)
            throws Exception {
        long extreme = highest ? Long.MIN_VALUE : Long.MAX_VALUE;
        for (int i = 0; i < WINDOW; i++) {
            step(engine, longLived, prompt, i);
            if (i % READ_EVERY == READ_EVERY - 1) {
                long rss = settledRss();
                System.out.println("reading " + rss + " kB");
                extreme = highest ? Math.max(extreme, rss) : Math.min(extreme, rss);
            }
        }
        return extreme;
    }

    /** Java heap in use after collection, in bytes. */
    private static long usedHeap() throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(50);
        }
        Runtime rt = Runtime.getRuntime();
        return rt.totalMemory() - rt.freeMemory();
    }

    /** Bytes of direct buffers alive (sessions' caches and working rows). */
    private static long directBytes() {
        return ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class).stream()
                .filter(b -> b.getName().equals("direct")).mapToLong(BufferPoolMXBean::getMemoryUsed).sum();
    }

    /** Resident memory in kB, read after collections (closed sessions' buffers freed). */
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
