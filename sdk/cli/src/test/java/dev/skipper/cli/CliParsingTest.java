package dev.skipper.cli;

import dev.skipper.api.SamplingOptions;
import dev.skipper.core.config.BackendChoice;
import dev.skipper.core.config.DeploymentConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Flag parsing, precedence and usage errors, against a fake engine. */
class CliParsingTest {
    private final FakeEngine fake = new FakeEngine();

    @TempDir
    Path tmp;

    private Cli.Result run(String... args) {
        return Cli.run(fake, args);
    }

    private void assertUsageError(Cli.Result r, String messagePart) {
        assertEquals(2, r.status(), r::toString);
        assertTrue(r.err().startsWith("error: "), r::toString);
        assertTrue(r.err().contains(messagePart), () -> "expected '" + messagePart + "' in\n" + r);
        assertTrue(r.err().contains("--help' for more information"), r::toString);
        assertEquals("", r.out(), r::toString);
        assertNull(fake.config, "the engine must not be opened on a usage error");
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "run", "chat", "score", "bench"})
    void helpOnEveryCommand(String verb) {
        String[] args = verb.isEmpty() ? new String[] {"--help"} : new String[] {verb, "--help"};
        Cli.Result r = run(args);
        assertEquals(0, r.status(), r::toString);
        assertTrue(r.out().startsWith("Usage: skipper"), r::toString);
        if (!verb.isEmpty()) {
            assertTrue(r.out().contains("--config=FILE") && r.out().contains("--bundle=DIR"), r::toString);
        }
        assertNull(fake.config);
    }

    @Test
    void noCommandIsAUsageError() {
        Cli.Result r = run();
        assertEquals(2, r.status(), r::toString);
        assertTrue(r.err().contains("missing command"), r::toString);
    }

    @Test
    void unknownCommandAndFlag() {
        assertEquals(2, run("generate").status());
        assertUsageError(run("run", "--bundle", "b", "--prompt", "x", "--tempreature", "1"), "Unknown option");
    }

    @Test
    void needsConfigOrBundle() {
        assertUsageError(run("run", "--prompt", "hi"), "give --config FILE or --bundle DIR");
        assertUsageError(run("score", "--text-file", "t.txt"), "give --config FILE or --bundle DIR");
    }

    @Test
    void requiredOptions() {
        assertUsageError(run("run", "--bundle", "b"), "--prompt");
        assertUsageError(run("score", "--bundle", "b"), "--text-file");
        assertUsageError(run("bench", "--bundle", "b"), "--prompts");
    }

    @Test
    void greedyWithSamplingFlagsIsAUsageError() {
        assertUsageError(run("run", "--bundle", "b", "--prompt", "x", "--greedy", "--temperature", "0.5"),
                "--greedy cannot be combined with --temperature");
        assertUsageError(run("chat", "--bundle", "b", "--greedy", "--seed", "3", "--top-k", "4"),
                "--top-k, --seed");
    }

    @ParameterizedTest
    @ValueSource(strings = {"--temperature=0.7", "--top-p=0.9", "--top-k=40", "--min-p=0.05", "--seed=7"})
    void eachSamplingFlagSwitchesGreedyOff(String flag) {
        Cli.Result r = run("run", "--bundle", "b", "--prompt", "x", flag);
        assertEquals(0, r.status(), r::toString);
        SamplingOptions s = fake.options.get(0).sampling();
        assertFalse(s.greedy(), flag);
        assertFalse(fake.config.generation().sampling().greedy());
    }

    @Test
    void samplingValuesReachTheOptions() {
        Cli.Result r = run("run", "--bundle", "b", "--prompt", "x", "--temperature", "0.7", "--top-p", "0.9",
                "--top-k", "40", "--min-p", "0.05", "--seed", "42", "--repetition-penalty", "1.1",
                "--max-tokens", "17", "--stop", "\n\nUser:", "--stop", "###");
        assertEquals(0, r.status(), r::toString);
        assertEquals(new SamplingOptions(false, 0.7, 40, 0.9, 0.05, 1.1, 42L), fake.options.get(0).sampling());
        assertEquals(17, fake.options.get(0).maxNewTokens());
        assertEquals(List.of("\n\nUser:", "###"), fake.options.get(0).stopStrings());
        assertTrue(fake.options.get(0).stopAtEos());
    }

    @Test
    void repetitionPenaltyAloneKeepsGreedy() {
        Cli.Result r = run("run", "--bundle", "b", "--prompt", "x", "--repetition-penalty", "1.3");
        assertEquals(0, r.status(), r::toString);
        SamplingOptions s = fake.options.get(0).sampling();
        assertTrue(s.greedy());
        assertEquals(1.3, s.repetitionPenalty());
    }

    @Test
    void defaultsWithoutAFile() {
        Cli.Result r = run("run", "--bundle", "some/bundle", "--prompt", "x");
        assertEquals(0, r.status(), r::toString);
        DeploymentConfig c = fake.config;
        assertEquals(Path.of("some/bundle").toAbsolutePath().normalize(), c.bundle());
        assertEquals(DeploymentConfig.DEFAULT_BACKENDS, c.backends());
        assertEquals(256, fake.options.get(0).maxNewTokens());
        assertEquals(SamplingOptions.GREEDY, fake.options.get(0).sampling());
    }

    private Path sampledConfig() throws IOException {
        Path yaml = tmp.resolve("app.yaml");
        Files.writeString(yaml, String.join("\n",
                "bundle: bundles/m",
                "backend: cpu",
                "threads: 2",
                "context_length: 1024",
                "generation:",
                "  max_new_tokens: 99",
                "  stop: [\"</s>\"]",
                "  sampling:",
                "    greedy: false",
                "    temperature: 0.6",
                "    top_k: 10",
                "    seed: 5",
                ""));
        return yaml;
    }

    @Test
    void fileValuesUnlessFlagsOverride() throws IOException {
        Path yaml = sampledConfig();
        Cli.Result r = run("run", "--config", yaml.toString(), "--prompt", "x");
        assertEquals(0, r.status(), r::toString);
        assertEquals(tmp.resolve("bundles/m").toAbsolutePath().normalize(), fake.config.bundle());
        assertEquals(2, fake.config.threads());
        assertEquals(1024, fake.config.contextLength());
        assertEquals(List.of(BackendChoice.CPU), fake.config.backends());
        assertEquals(new SamplingOptions(false, 0.6, 10, 1.0, 0.0, 1.0, 5L), fake.options.get(0).sampling());
        assertEquals(99, fake.options.get(0).maxNewTokens());
        assertEquals(List.of("</s>"), fake.options.get(0).stopStrings());
    }

    @Test
    void flagsOverrideTheFile() throws IOException {
        Path yaml = sampledConfig();
        Cli.Result r = run("run", "--config", yaml.toString(), "--bundle", "elsewhere", "--prompt", "x",
                "--threads", "4", "--context-length", "256", "--backend", "cuda,cpu", "--max-tokens", "3",
                "--stop", "END", "--temperature", "0.9");
        assertEquals(0, r.status(), r::toString);
        assertEquals(Path.of("elsewhere").toAbsolutePath().normalize(), fake.config.bundle());
        assertEquals(4, fake.config.threads());
        assertEquals(256, fake.config.contextLength());
        assertEquals(List.of(BackendChoice.CUDA, BackendChoice.CPU), fake.config.backends());
        // temperature from the flag, the file's other sampling values kept
        assertEquals(new SamplingOptions(false, 0.9, 10, 1.0, 0.0, 1.0, 5L), fake.options.get(0).sampling());
        assertEquals(3, fake.options.get(0).maxNewTokens());
        assertEquals(List.of("END"), fake.options.get(0).stopStrings());
    }

    @Test
    void greedyFlagOverridesASamplingFile() throws IOException {
        Path yaml = sampledConfig();
        Cli.Result r = run("run", "--config", yaml.toString(), "--prompt", "x", "--greedy");
        assertEquals(0, r.status(), r::toString);
        assertTrue(fake.options.get(0).sampling().greedy());
    }

    @Test
    void invalidConfigFileIsAnErrorLine() throws IOException {
        Path yaml = tmp.resolve("bad.yaml");
        Files.writeString(yaml, "bundle: b\nthreads: many\n");
        Cli.Result r = run("run", "--config", yaml.toString(), "--prompt", "x");
        assertEquals(2, r.status(), r::toString);
        assertTrue(r.err().startsWith("error: " + yaml + ":2: threads: "), r::toString);
        assertEquals(1, r.err().strip().lines().count(), r::toString);

        Cli.Result missing = run("run", "--config", tmp.resolve("nope.yaml").toString(), "--prompt", "x");
        assertEquals(2, missing.status(), missing::toString);
        assertTrue(missing.err().startsWith("error: "), missing::toString);
        assertEquals(1, missing.err().strip().lines().count(), missing::toString);
    }

    @Test
    void outOfRangeValuesNameTheFlag() {
        assertUsageError(run("run", "--bundle", "b", "--prompt", "x", "--top-p", "1.5"), "--top-p must be in (0, 1]");
        assertUsageError(run("run", "--bundle", "b", "--prompt", "x", "--max-tokens", "0"), "--max-tokens must be");
        assertUsageError(run("run", "--bundle", "b", "--prompt", "x", "--temperature", "0"), "--temperature must be > 0");
        assertUsageError(run("run", "--bundle", "b", "--prompt", "x", "--repetition-penalty", "0.5"),
                "--repetition-penalty must be >= 1");
        assertUsageError(run("run", "--bundle", "b", "--prompt", "x", "--threads", "-1"), "--threads must be");
        assertUsageError(run("run", "--bundle", "b", "--prompt", "x", "--stop", ""), "--stop values must not be empty");
        assertUsageError(run("run", "--bundle", "b", "--prompt", "x", "--top-k", "many"), "--top-k");
        assertUsageError(run("run", "--bundle", "b", "--prompt", "x", "--backend", "gpu"), "--backend");
        assertUsageError(run("run", "--bundle", "b", "--prompt", "x", "--backend", "auto,cpu"), "--backend auto");
    }

    @Test
    void systemNeedsChat() {
        assertUsageError(run("run", "--bundle", "b", "--prompt", "x", "--system", "be brief"), "--system needs --chat");
    }

    @Test
    void benchModes() throws IOException {
        Path prompts = tmp.resolve("p.txt");
        Files.writeString(prompts, "a\n");
        assertUsageError(run("bench", "--bundle", "b", "--prompts", prompts.toString(), "--repeat", "0"),
                "--repeat must be in [1, 100], got 0");
        assertUsageError(run("bench", "--bundle", "b", "--prompts", prompts.toString(), "--repeat", "101"),
                "--repeat must be in [1, 100], got 101");
        assertUsageError(run("bench", "--bundle", "b", "--prompts", prompts.toString(), "--warmup", "2147483647"),
                "--warmup must be in [0, 100]");
        assertUsageError(run("run", "--bundle", "b", "--prompt", "x", "--mode", "fastest"),
                "unknown speculation mode 'fastest'");
        assertUsageError(run("bench", "--bundle", "b", "--prompts", prompts.toString(), "--modes", "fast"),
                "unknown mode 'fast'");
    }
}
