package dev.skipper.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipper.testing.TestData;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SIGTERM (what systemd or a robot's launch system sends to stop a service) during a generation
 * ends {@code run} with status 143 and the text generated so far, never with a JVM crash: ONNX
 * Runtime's binding releases its environment in a JVM shutdown hook under the native call in
 * progress, which crashed 3 of 3 stops before the CLI closed its runners first.
 */
class StopSignalTest {
    private static final int STOPS = 3;

    @TempDir
    Path tmp;

    @Test
    void sigtermDuringAGenerationExitsWith143AndNoCrashReport() throws Exception {
        Assumptions.assumeTrue(Files.isReadable(Path.of("/proc/self/status")), "signals are sent on Linux only");
        Path bundle = TestData.bundle("smollm2-int4"); // decoding takes seconds: the signal lands mid-run
        for (int i = 0; i < STOPS; i++) {
            Path out = tmp.resolve("out-" + i + ".txt");
            Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-XX:ErrorFile=" + tmp.resolve("hs_err_%p.log"), "-XX:+UseSerialGC",
                    "-cp", System.getProperty("java.class.path"), "dev.skipper.cli.Main", "run",
                    "--bundle", bundle.toString(), "--backend", "cpu", "--threads", "2", "--context-length", "2048",
                    "--max-tokens", "1900", "--prompt", "Once upon a time")
                    .redirectErrorStream(true).redirectOutput(out.toFile()).start();
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
            // Wait until tokens stream (the engine is open and decoding), then stop it.
            while (Files.size(out) < 40 && p.isAlive() && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertTrue(p.isAlive(), "the generation ended before it could be stopped:\n" + read(out));
            Thread.sleep(100L * i); // a different moment of the step each time
            p.destroy(); // SIGTERM
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the process did not stop within 60 s of SIGTERM");
            try (Stream<Path> files = Files.list(tmp)) {
                List<Path> reports = files.filter(f -> f.getFileName().toString().startsWith("hs_err")).toList();
                assertEquals(List.of(), reports, "the JVM crashed on SIGTERM:\n" + read(out));
            }
            assertEquals(143, p.exitValue(), "exit status after SIGTERM:\n" + read(out));
            assertTrue(read(out).length() >= 40, "the text generated before the signal is printed");
        }
    }

    private static String read(Path file) throws java.io.IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
