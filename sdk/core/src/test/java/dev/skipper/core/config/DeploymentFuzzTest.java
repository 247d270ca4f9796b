package dev.skipper.core.config;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Fuzzes {@link DeploymentConfigLoader#load}: any bytes as a deployment file. The contract: a
 * deployment, or a {@link ConfigException} whose message is one line naming the file (and line and
 * key where there is one). Anything else is a finding.
 *
 * <p>Seeds ({@code DeploymentFuzzTestInputs/}): the shipped configs. {@code ./skipper test} replays
 * them; {@code ./skipper fuzz --target java-deployment} fuzzes.
 */
class DeploymentFuzzTest {
    private static final Path FILE = file();

    private static Path file() {
        return dev.skipper.testing.TempDirs.forThisJvm("skipper-deployment-fuzz").resolve("deploy.yaml");
    }

    @FuzzTest(maxDuration = "30s")
    void loaderAcceptsOrRefusesInOneLine(byte[] yaml) throws IOException {
        Files.write(FILE, yaml);
        try {
            DeploymentConfigLoader.load(FILE);
        } catch (ConfigException e) {
            String m = e.getMessage();
            if (m == null || !m.startsWith(FILE.toString()) || m.indexOf('\n') >= 0 || m.indexOf('\r') >= 0) {
                throw new AssertionError("a refusal must be one line naming the file, got: " + m);
            }
        }
    }
}
