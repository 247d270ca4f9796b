package dev.skipper.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.skipper.testing.TestData;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Peak resident memory of a fixed small workload stays within its recorded budget
 * ({@code memory-budget.properties}): {@code bench} over four prompts, 32 tokens each, at a
 * 2,048-token context (the tiny model's 512), in its own JVM with the launcher's memory options
 * ({@code configs/jvm-memory.options}, the serial collector, {@code MALLOC_ARENA_MAX=2}). A change
 * that loads a graph twice, turns the arenas back on or sizes the heap by the machine fails here.
 * The budget is the peak measured when it was recorded plus {@value #SLACK_PERCENT} % for noise;
 * lower it when memory is saved.
 */
class MemoryBudgetTest {
    static final int SLACK_PERCENT = 10;
    private static final String PROMPTS = "Name three colours.\nWhat is two plus two?\n"
            + "Write one sentence about the sea.\nSay hello in French.\n";

    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"tiny-spm-int4", "smollm2-int4"})
    void peakResidentMemoryStaysWithinItsBudget(String name) throws Exception {
        Assumptions.assumeTrue(Files.isReadable(Path.of("/proc/self/status")), "resident memory is read on Linux only");
        Path bundle = TestData.bundle(name);
        long budget = budgetBytes(name);
        Path prompts = Files.writeString(tmp.resolve("prompts.txt"), PROMPTS);
        Path out = tmp.resolve("bench.json");
        Path options = repositoryRoot().resolve("configs/jvm-memory.options");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "@" + options, "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"),
                "dev.skipper.cli.Main", "bench", "--bundle", bundle.toString(), "--backend", "cpu", "--threads", "2",
                "--context-length", name.startsWith("smollm2") ? "2048" : "512", "--prompts", prompts.toString(),
                "--max-tokens", "32",
                "--json", out.toString()));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("MALLOC_ARENA_MAX", "2");
        Path log = tmp.resolve("log.txt");
        Process p = pb.redirectOutput(log.toFile()).start();
        if (!p.waitFor(10, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new AssertionError("the bench did not finish in 10 minutes");
        }
        String text = Files.readString(log, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), "the bench failed:\n" + text);
        JsonObject memory = JsonParser.parseString(Files.readString(out)).getAsJsonObject().getAsJsonObject("memory");
        long peak = memory.get("peak_rss_bytes").getAsLong();
        System.out.printf("%s: peak RSS %.1f MB, budget %.1f MB (%s)%n", name, peak / 1e6, budget / 1e6, memory);
        assertTrue(peak > 0, memory.toString());
        assertTrue(peak <= budget, name + ": peak RSS " + peak / 1_000_000 + " MB is over the budget of "
                + budget / 1_000_000 + " MB (memory-budget.properties): " + memory);
    }

    private static long budgetBytes(String name) throws IOException {
        Properties p = new Properties();
        try (InputStream in = MemoryBudgetTest.class.getResourceAsStream("memory-budget.properties")) {
            p.load(in);
        }
        String mb = p.getProperty(name + ".peak_mb");
        if (mb == null) {
            throw new AssertionError("memory-budget.properties has no " + name + ".peak_mb");
        }
        return Long.parseLong(mb.trim()) * 1_000_000L * (100 + SLACK_PERCENT) / 100;
    }

    /** The checkout: the test runs in sdk/cli. */
    private static Path repositoryRoot() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.isRegularFile(dir.resolve("configs/jvm-memory.options"))) {
            dir = dir.getParent();
        }
        if (dir == null) {
            throw new AssertionError("configs/jvm-memory.options not found above " + Path.of("").toAbsolutePath());
        }
        return dir;
    }
}
