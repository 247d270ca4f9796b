package dev.skipper.ort;

import dev.skipper.runtime.spi.BackendOptions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ONNX Runtime 1.29 parses the process command line with stack that grows with its length; on a
 * Java thread's default 1 MB stack a line over ~4 KB (a long {@code -classpath}) killed the JVM with
 * SIGSEGV when the environment was created. {@link SharedEnvironment} creates it on a thread with a
 * stack sized for the line; this starts a JVM with a 100 KB command line and opens the environment.
 */
class LongCommandLineTest {
    @Test
    void theEnvironmentOpensUnderAHundredKilobyteCommandLine() throws Exception {
        String pad = "x".repeat(100_000);
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Path log = Files.createTempFile("skipper-cmdline-probe", ".log");
        try {
            Process p = new ProcessBuilder(List.of(java.toString(), "-Dskipper.pad=" + pad, "-cp",
                    System.getProperty("java.class.path"), Probe.class.getName()))
                    .redirectErrorStream(true).redirectOutput(log.toFile()).start();
            if (!p.waitFor(2, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new AssertionError("the probe JVM did not finish in 2 minutes");
            }
            String text = Files.readString(log, StandardCharsets.UTF_8);
            assertEquals(0, p.exitValue(), "the probe JVM failed (139 = SIGSEGV):\n" + text);
            assertTrue(text.contains("environment ok"), text);
        } finally {
            Files.deleteIfExists(log);
        }
    }

    /** The child JVM: opens the shared environment and one set of session options. */
    static final class Probe {
        private Probe() {
        }

        public static void main(String[] args) throws Exception {
            SharedEnvironment env = SharedEnvironment.acquire(BackendOptions.DEFAULTS);
            env.sessionOptions(java.util.Map.of()).close();
            System.out.println("environment ok");
        }
    }
}
