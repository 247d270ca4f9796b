package dev.skipper.core.config;

import dev.skipper.api.SamplingOptions;
import dev.skipper.api.SkipperException;
import dev.skipper.api.SpeculationMode;
import java.io.IOException;
import java.nio.file.Files;
import dev.skipper.runtime.spi.DeviceOptions;
import dev.skipper.runtime.spi.DevicePrecision;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DeploymentConfigLoaderTest {

    private static final Path FILE = Path.of("deploy.yaml");

    private static DeploymentConfig parse(String yaml) throws ConfigException {
        return DeploymentConfigLoader.parse(yaml, FILE);
    }

    /** Parses text expected to fail and returns the exception. */
    private static ConfigException failure(String yaml) {
        return assertThrows(ConfigException.class, () -> parse(yaml));
    }

    private static void assertFails(String yaml, int line, String keyPath, String problemPart) {
        ConfigException e = failure(yaml);
        assertEquals(line, e.line(), e.getMessage());
        assertEquals(keyPath, e.keyPath(), e.getMessage());
        assertTrue(e.problem().contains(problemPart), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
    }

    // ---- the shipped files -------------------------------------------------------------------------

    @Test
    void loadsTheShippedCpuConfig() throws Exception {
        Path repo = RepoRoot.find();
        DeploymentConfig c = DeploymentConfigLoader.load(repo.resolve("configs/smollm2-135m-cpu.yaml"));
        assertEquals(repo.resolve("build/bundles/smollm2-135m-int4-ort").toAbsolutePath().normalize(), c.bundle());
        assertEquals(List.of(BackendChoice.CPU), c.backends());
        assertEquals(2, c.threads());
        assertTrue(c.allowSpinning());
        assertEquals(2048, c.contextLength());
        assertEquals(256, c.generation().maxNewTokens());
        assertEquals(SamplingOptions.GREEDY, c.generation().sampling());
        assertEquals(List.of(), c.generation().stop());
        assertEquals(SpeculationConfig.OFF, c.speculation());
        assertEquals(repo.resolve("configs/smollm2-135m-cpu.yaml").toAbsolutePath().normalize(), c.source());
        assertEquals(2, c.backendOptions().intraOpThreads());
    }

    @Test
    void loadsTheReferenceFileWithEveryKeyAtItsDefault() throws Exception {
        Path repo = RepoRoot.find();
        DeploymentConfig c = DeploymentConfigLoader.load(repo.resolve("configs/reference.yaml"));
        DeploymentConfig d = DeploymentConfig.defaults(c.bundle());
        assertEquals(d.backends(), c.backends());
        assertEquals(d.threads(), c.threads());
        assertEquals(d.allowSpinning(), c.allowSpinning());
        assertEquals(d.contextLength(), c.contextLength());
        assertEquals(d.generation().maxNewTokens(), c.generation().maxNewTokens());
        assertEquals(d.generation().stop(), c.generation().stop());
        // Only greedy differs from the defaults (false, so that the sampling keys take effect).
        SamplingOptions g = SamplingOptions.GREEDY;
        assertEquals(new SamplingOptions(false, g.temperature(), g.topK(), g.topP(), g.minP(),
                g.repetitionPenalty(), g.seed()), c.generation().sampling());
        assertEquals(SpeculationConfig.OFF, c.speculation());
        assertEquals(ServerSettings.DEFAULTS, c.server());
    }

    @Test
    void readsTheServerSectionAndNamesABadKey(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path yaml = dir.resolve("d.yaml");
        java.nio.file.Files.writeString(yaml, "bundle: b\nserver:\n  host: 0.0.0.0\n  port: 0\n  sessions: 3\n"
                + "  queue: 0\n  request_timeout_s: 2.5\n  api_key_file: keys/k.txt\n");
        ServerSettings s = DeploymentConfigLoader.load(yaml).server();
        assertEquals(new ServerSettings("0.0.0.0", 0, 3, 0, 1 << 20, 2.5, 10, dir.resolve("keys/k.txt").toAbsolutePath()
                .normalize()), s);
        java.nio.file.Files.writeString(yaml, "bundle: b\nserver:\n  sessions: 0\n");
        ConfigException e = org.junit.jupiter.api.Assertions.assertThrows(ConfigException.class,
                () -> DeploymentConfigLoader.load(yaml));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("server.sessions"), e.getMessage());
        java.nio.file.Files.writeString(yaml, "bundle: b\nserver:\n  threads: 2\n");
        e = org.junit.jupiter.api.Assertions.assertThrows(ConfigException.class, () -> DeploymentConfigLoader.load(yaml));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("threads"), e.getMessage());
    }

    @Test
    void readsTheMemorySectionIntoTheBackendOptions(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path yaml = dir.resolve("d.yaml");
        java.nio.file.Files.writeString(yaml, "bundle: b\n");
        DeploymentConfig c = DeploymentConfigLoader.load(yaml);
        assertEquals(MemorySettings.DEFAULTS, c.memory());
        org.junit.jupiter.api.Assertions.assertFalse(c.backendOptions().cpuArena());
        java.nio.file.Files.writeString(yaml, "bundle: b\nmemory:\n  cpu_arena: true\n");
        c = DeploymentConfigLoader.load(yaml);
        org.junit.jupiter.api.Assertions.assertTrue(c.memory().cpuArena() && c.backendOptions().cpuArena());
        org.junit.jupiter.api.Assertions.assertTrue(c.withOverrides(Overrides.builder().threads(1).build()).memory()
                .cpuArena(), "overrides keep the memory section");
        java.nio.file.Files.writeString(yaml, "bundle: b\nmemory:\n  cpu_arena: maybe\n");
        ConfigException e = org.junit.jupiter.api.Assertions.assertThrows(ConfigException.class,
                () -> DeploymentConfigLoader.load(yaml));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("memory.cpu_arena"), e.getMessage());
        java.nio.file.Files.writeString(yaml, "bundle: b\nmemory:\n  arena: true\n");
        e = org.junit.jupiter.api.Assertions.assertThrows(ConfigException.class, () -> DeploymentConfigLoader.load(yaml));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("arena"), e.getMessage());
    }

    @Test
    void theKvCacheGrowsUnlessTheDeploymentAsksForItWhole(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path yaml = dir.resolve("d.yaml");
        java.nio.file.Files.writeString(yaml, "bundle: b\n");
        org.junit.jupiter.api.Assertions.assertTrue(DeploymentConfigLoader.load(yaml).backendOptions().growKvCache());
        java.nio.file.Files.writeString(yaml, "bundle: b\nmemory:\n  kv_cache: preallocate\n");
        DeploymentConfig c = DeploymentConfigLoader.load(yaml);
        assertEquals(KvAllocation.PREALLOCATE, c.memory().kvCache());
        org.junit.jupiter.api.Assertions.assertFalse(c.backendOptions().growKvCache());
        org.junit.jupiter.api.Assertions.assertFalse(c.withOverrides(Overrides.builder().threads(1).build())
                .backendOptions().growKvCache(), "overrides keep the memory section");
        java.nio.file.Files.writeString(yaml, "bundle: b\nmemory:\n  kv_cache: lazy\n");
        ConfigException e = org.junit.jupiter.api.Assertions.assertThrows(ConfigException.class,
                () -> DeploymentConfigLoader.load(yaml));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("memory.kv_cache")
                && e.getMessage().contains("grow"), e.getMessage());
    }

    // ---- values ------------------------------------------------------------------------------------

    @Test
    void readsEveryKey() throws Exception {
        DeploymentConfig c = parse("""
                bundle: /opt/bundles/m
                backend: [tensorrt, CUDA, cpu]
                threads: 4
                allow_spinning: true
                context_length: 4096
                generation:
                  max_new_tokens: 64
                  stop: ["\\n\\nUser:", "1.10", "no"]
                  sampling:
                    greedy: false
                    temperature: 0.7
                    top_k: 40
                    top_p: 0.95
                    min_p: 5e-2
                    repetition_penalty: 1.1
                    seed: -9000000000
                speculation:
                  mode: early-exit
                  exit_layer: 12
                  skip_layers: [9, 4]
                  max_draft_tokens: 6
                  confidence_threshold: .6
                  ngram_size: 2
                """);
        assertEquals(Path.of("/opt/bundles/m"), c.bundle());
        assertEquals(List.of(BackendChoice.TENSORRT, BackendChoice.CUDA, BackendChoice.CPU), c.backends());
        assertEquals(4, c.threads());
        assertTrue(c.allowSpinning());
        assertEquals(4096, c.contextLength());
        assertEquals(64, c.generation().maxNewTokens());
        assertEquals(List.of("\n\nUser:", "1.10", "no"), c.generation().stop());
        assertEquals(new SamplingOptions(false, 0.7, 40, 0.95, 0.05, 1.1, -9_000_000_000L), c.generation().sampling());
        assertEquals(new SpeculationConfig(SpeculationMode.EARLY_EXIT, 12, 6, 0.6, List.of(4, 9), 2, true),
                c.speculation());
    }

    @Test
    void emptyValuesAndLeftOutSectionsMeanDefaults() throws Exception {
        DeploymentConfig c = parse("bundle: b\nthreads:\nbackend: ~\ngeneration:\nspeculation:\n");
        DeploymentConfig d = DeploymentConfig.defaults(c.bundle());
        assertEquals(d.backends(), c.backends());
        assertEquals(0, c.threads());
        assertEquals(GenerationDefaults.DEFAULTS, c.generation());
        assertEquals(SpeculationConfig.OFF, c.speculation());
        // A single stop string and a single backend need no list.
        DeploymentConfig one = parse("bundle: b\nbackend: cuda\ngeneration: {stop: '</s>'}\n");
        assertEquals(List.of(BackendChoice.CUDA), one.backends());
        assertEquals(List.of("</s>"), one.generation().stop());
    }

    @Test
    void modeOffIsTheWordNotABoolean() throws Exception {
        // YAML 1.1 reads a bare `off` as false; closed sets of words are matched on the text.
        assertEquals(SpeculationMode.OFF, parse("bundle: b\nspeculation: {mode: off}\n").speculation().mode());
        assertFails("bundle: b\nspeculation: {mode: false}\n", 2, "speculation.mode",
                "must be one of off, auto, early-exit, exit-head, layer-skip, feature, ngram, got false");
    }

    // ---- bundle paths ------------------------------------------------------------------------------

    @Test
    void relativeBundleIsResolvedAgainstTheFilesFolder(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("deploy/sub"));
        Path yaml = Files.writeString(dir.resolve("app.yaml"), "bundle: ../../bundles/./m\n");
        assertEquals(tmp.resolve("bundles/m").toAbsolutePath().normalize(), DeploymentConfigLoader.load(yaml).bundle());
        Files.writeString(yaml, "bundle: m\n");
        assertEquals(dir.resolve("m").toAbsolutePath().normalize(), DeploymentConfigLoader.load(yaml).bundle());
        Path absolute = tmp.resolve("elsewhere/m").toAbsolutePath();
        Files.writeString(yaml, "bundle: '" + absolute + "'\n");
        assertEquals(absolute, DeploymentConfigLoader.load(yaml).bundle());
        // Also for a relative path to the YAML file itself.
        DeploymentConfig c = DeploymentConfigLoader.parse("bundle: x\n", Path.of("configs/a.yaml"));
        assertEquals(Path.of("configs/x").toAbsolutePath().normalize(), c.bundle());
    }

    @Test
    void bundleProblems() {
        assertFails("threads: 1\n", 1, "bundle", "is missing");
        assertFails("bundle:\n", 1, "bundle", "must have a value");
        assertFails("bundle: ''\n", 1, "bundle", "must not be empty");
        assertFails("bundle: ~/models/m\n", 1, "bundle", "'~' is not expanded");
        assertFails("bundle: [a]\n", 1, "bundle", "must be a string, got a list");
        assertFails("bundle: 1.10\n", 1, "bundle", "write \"1.10\" to mean the text");
    }

    // ---- errors ------------------------------------------------------------------------------------

    @Test
    void messageIsFileLineKeyPathProblem() {
        ConfigException e = failure("bundle: b\ngeneration:\n  sampling:\n    greedy: true\n    top_p: 1.5\n");
        assertEquals("deploy.yaml:5: generation.sampling.top_p: must be a number in (0, 1], got 1.5", e.getMessage());
        assertTrue(e instanceof SkipperException);
        assertEquals(FILE, e.file());
    }

    @Test
    void duplicateKeysAreRejected() {
        assertFails("bundle: a\nthreads: 1\nthreads: 2\n", 3, "threads", "appears twice");
        assertFails("bundle: a\ngeneration:\n  sampling: {greedy: true, greedy: false}\n", 3,
                "generation.sampling.greedy", "appears twice");
    }

    @Test
    void aliasBombIsRejected() {
        String bomb = """
                bundle: b
                a: &a [x, x, x, x, x, x, x, x, x]
                b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
                c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
                d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
                e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
                """;
        ConfigException e = failure(bomb);
        assertTrue(e.problem().contains("aliases") && e.problem().contains("limited to 8"), e.getMessage());
        assertEquals(3, e.line(), e.getMessage()); // the ninth alias
        // A few aliases are fine (they fail later only if the key is unknown).
        assertFails("bundle: &b x\nx: *b\n", 2, "x", "unknown key");
    }

    @Test
    void deepNestingIsRejected() {
        String deep = "bundle: b\ngeneration: " + "[".repeat(100) + "]".repeat(100) + "\n";
        ConfigException e = failure(deep);
        assertTrue(e.problem().contains("Nesting Depth"), e.getMessage());
        assertEquals(2, e.line());
    }

    @Test
    void unknownKeysAreNamedWithTheirPath() {
        assertFails("bundle: b\nbackends: cpu\n", 2, "backends", "unknown key; known keys here: bundle, backend,");
        assertFails("bundle: b\ngeneration:\n  sampling:\n    greedy: false\n    topK: 4\n", 5,
                "generation.sampling.topK", "unknown key (did you mean top_k?)");
        assertFails("bundle: b\nspeculation:\n  mode: ngram\n  draft: 3\n", 4, "speculation.draft", "unknown key");
        // The YAML-level check (HardenedYaml) runs over the whole tree before the schema walk.
        assertFails("bundle: b\nbase: &base {threads: 1}\n<<: *base\n", 3, "<<", "merge keys (<<) are not supported");
        assertFails("bundle: b\nbase: &base {threads: 1}\n", 2, "base", "unknown key");
        assertFails("<<: {threads: 1}\nbundle: b\n", 1, "<<", "merge keys (<<) are not supported");
    }

    @Test
    void wrongTypesAreRejected() {
        assertFails("bundle: b\nthreads: two\n", 2, "threads", "must be an integer from 0 to 1024, got 'two'");
        assertFails("bundle: b\nthreads: 2.0\n", 2, "threads", "must be an integer from 0 to 1024, got 2.0");
        assertFails("bundle: b\nthreads: '2'\n", 2, "threads", "got '2'");
        assertFails("bundle: b\nallow_spinning: 1\n", 2, "allow_spinning", "must be true or false, got 1");
        assertFails("bundle: b\ngeneration: [1]\n", 2, "generation", "must be a mapping, got a list");
        assertFails("bundle: b\ngeneration: {stop: [1, 2]}\n", 2, "generation.stop[0]", "must be a string, got 1");
        assertFails("bundle: b\ngeneration: {stop: [[a]]}\n", 2, "generation.stop[0]", "must be a string, got a list");
        assertFails("bundle: b\ngeneration: {sampling: {greedy: false, temperature: hot}}\n", 2,
                "generation.sampling.temperature", "must be a number > 0 in plain decimal, got 'hot'");
        assertFails("bundle: b\nthreads: !custom 2\n", 2, "threads", "unsupported tag !custom");
        ConfigException e = failure("bundle: !!python/object:os.system b\n");
        assertTrue(e.problem().startsWith("invalid YAML: Global tag is not allowed"), e.getMessage());
    }

    @Test
    void yaml11PitfallsAreRefused() {
        assertFails("bundle: b\nallow_spinning: no\n", 2, "allow_spinning", "YAML 1.1 words like yes/no/on/off are refused");
        assertFails("bundle: b\nallow_spinning: on\n", 2, "allow_spinning", "got on");
        assertFails("bundle: b\nthreads: 010\n", 2, "threads", "reads 010 as octal 8");
        assertFails("bundle: b\nthreads: 0x1F\n", 2, "threads", "plain decimal");
        assertFails("bundle: b\ncontext_length: 2_048\n", 2, "context_length", "plain decimal");
        assertFails("bundle: b\ngeneration: {sampling: {greedy: false, top_p: .nan}}\n", 2,
                "generation.sampling.top_p", "plain decimal");
        assertFails("bundle: b\ngeneration: {stop: [1.10]}\n", 2, "generation.stop[0]",
                "unquoted, YAML reads it as a float; write \"1.10\" to mean the text");
        assertFails("bundle: b\ngeneration: {stop: no}\n", 2, "generation.stop", "reads it as a boolean");
        assertFails("bundle: b\ngeneration: {stop: [~]}\n", 2, "generation.stop[0]", "reads it as null");
    }

    @Test
    void outOfRangeValuesAreRejected() {
        assertFails("bundle: b\nthreads: -1\n", 2, "threads", "from 0 to 1024, got -1");
        assertFails("bundle: b\ncontext_length: 99999999999\n", 2, "context_length", "got 99999999999");
        assertFails("bundle: b\ngeneration: {max_new_tokens: 0}\n", 2, "generation.max_new_tokens", "from 1 to");
        String s = "bundle: b\ngeneration:\n  sampling:\n    greedy: false\n    ";
        assertFails(s + "temperature: 0\n", 5, "generation.sampling.temperature", "> 0");
        assertFails(s + "top_k: -1\n", 5, "generation.sampling.top_k", "an integer >= 0, got -1");
        assertFails(s + "min_p: 1\n", 5, "generation.sampling.min_p", "in [0, 1)");
        assertFails(s + "repetition_penalty: 0.9\n", 5, "generation.sampling.repetition_penalty", ">= 1");
        assertFails(s + "seed: 99999999999999999999\n", 5, "generation.sampling.seed", "must be an integer");
        String p = "bundle: b\nspeculation:\n  mode: layer-skip\n  ";
        assertFails(p + "max_draft_tokens: 65\n", 4, "speculation.max_draft_tokens", "from 1 to 64");
        assertFails(p + "exit_layer: 0\n", 4, "speculation.exit_layer", "from 1 to 4096");
        assertFails(p + "confidence_threshold: 1.01\n", 4, "speculation.confidence_threshold", "in [0, 1]");
        assertFails(p + "skip_layers: [1, 3, 1]\n", 4, "speculation.skip_layers[2]", "listed twice");
        assertFails(p + "skip_layers: []\n", 4, "speculation.skip_layers", "must not be empty");
        assertFails(p + "ngram_size: 17\n", 4, "speculation.ngram_size", "from 1 to 16");
        assertFails("bundle: b\nspeculation: {mode: medusa}\n", 2, "speculation.mode", "must be one of off, auto,");
    }

    @Test
    void adaptiveDepthIsOptInAndChecked() throws Exception {
        assertEquals(dev.skipper.api.AdaptiveDepth.OFF, parse("bundle: b\n").speculation().adaptiveDepth());
        DeploymentConfig c = parse("bundle: b\nspeculation: {mode: ngram}\nadaptive_depth:\n  enabled: true\n"
                + "  precision: 0.9\n");
        assertEquals(dev.skipper.api.AdaptiveDepth.lossy(0.9), c.speculation().adaptiveDepth());
        assertEquals(SpeculationMode.NGRAM, c.speculation().mode());
        assertEquals(0.97, parse("bundle: b\nadaptive_depth: {enabled: true}\n").speculation().adaptiveDepth()
                .precision(), 1e-12);
        assertFails("bundle: b\nadaptive_depth: {precision: 0.9}\n", 2, "adaptive_depth.enabled", "is missing");
        assertFails("bundle: b\nadaptive_depth: {enabled: true, precision: 0.4}\n", 2, "adaptive_depth.precision",
                "in [0.5, 1]");
        assertFails("bundle: b\nadaptive_depth: {enabled: true, speed: 2}\n", 2, "adaptive_depth.speed", "unknown key");
    }

    @Test
    void gpuSectionIsReadAndChecked(@TempDir Path tmp) throws Exception {
        assertEquals(DeviceOptions.DEFAULTS, parse("bundle: b\n").gpu());
        DeploymentConfig c = DeploymentConfigLoader.parse("bundle: b\ngpu:\n  device: 1\n  precision: FP16\n"
                + "  engine_cache: engines/orin\n", tmp.resolve("deploy.yaml"));
        assertEquals(new DeviceOptions(1, DevicePrecision.FP16, tmp.resolve("engines/orin")), c.gpu());
        assertEquals(c.gpu(), c.backendOptions().device(), "the backends get what the file says");
        assertFails("bundle: b\ngpu: {device: 64}\n", 2, "gpu.device", "from 0 to 63");
        assertFails("bundle: b\ngpu: {device: -1}\n", 2, "gpu.device", "from 0 to 63");
        assertFails("bundle: b\ngpu: {precision: int8}\n", 2, "gpu.precision", "symmetric-quantized");
        assertFails("bundle: b\ngpu: {precision: fp8}\n", 2, "gpu.precision", "must be auto or fp16, got 'fp8'");
        assertFails("bundle: b\ngpu: {engine_cache: '~/x'}\n", 2, "gpu.engine_cache", "'~' is not expanded");
        assertFails("bundle: b\ngpu: {devices: 2}\n", 2, "gpu.devices", "unknown key");
    }

    @Test
    void backendValuesAreChecked() {
        assertFails("bundle: b\nbackend: [cpu, gpu]\n", 2, "backend[1]",
                "must be one of auto, cpu, cuda, ort-tensorrt, tensorrt, got 'gpu'");
        assertFails("bundle: b\nbackend: gpu\n", 2, "backend", "must be one of auto, cpu, cuda, ort-tensorrt, tensorrt");
        assertFails("bundle: b\nbackend: [cpu, cpu]\n", 2, "backend", "lists cpu twice");
        assertFails("bundle: b\nbackend: [auto, cpu]\n", 2, "backend", "auto must be the only entry");
        assertFails("bundle: b\nbackend: []\n", 2, "backend", "at least one backend");
    }

    @Test
    void requiredSwitchesInsideSections() {
        // Without `greedy`, "temperature: 0.7" alone would silently decode greedily.
        assertFails("bundle: b\ngeneration:\n  sampling:\n    temperature: 0.7\n", 3, "generation.sampling.greedy",
                "is missing");
        assertFails("bundle: b\nspeculation:\n  max_draft_tokens: 3\n", 2, "speculation.mode", "is missing");
    }

    @Test
    void emptyOrNonMappingFilesAreRejected() {
        assertFails("", 0, null, "the file is empty");
        assertFails("# only a comment\n\n", 0, null, "the file is empty");
        assertFails("- bundle: b\n", 1, null, "the file must be a mapping of keys, got a list");
        assertFails("just text\n", 1, null, "the file must be a mapping of keys, got 'just text'");
        assertFails("bundle: b\n---\nbundle: c\n", 2, null, "invalid YAML: expected a single document");
        assertFails("bundle: [b\n", 2, null, "invalid YAML:");
    }

    // ---- files -------------------------------------------------------------------------------------

    @Test
    void fileProblems(@TempDir Path tmp) throws IOException {
        ConfigException missing = assertThrows(ConfigException.class,
                () -> DeploymentConfigLoader.load(tmp.resolve("nope.yaml")));
        assertEquals(tmp.resolve("nope.yaml") + ": no such file", missing.getMessage());
        assertThrows(ConfigException.class, () -> DeploymentConfigLoader.load(tmp));
        Path latin1 = Files.write(tmp.resolve("latin1.yaml"), new byte[] {'b', 'u', 'n', 'd', 'l', 'e', ':', ' ', (byte) 0xE9});
        assertEquals("not valid UTF-8",
                assertThrows(ConfigException.class, () -> DeploymentConfigLoader.load(latin1)).problem());
        Path big = Files.writeString(tmp.resolve("big.yaml"), "#".repeat((int) DeploymentConfigLoader.MAX_FILE_BYTES + 1));
        assertTrue(assertThrows(ConfigException.class, () -> DeploymentConfigLoader.load(big)).problem().startsWith("too large"));
        Path manyCodePoints = Files.writeString(tmp.resolve("cp.yaml"), "#".repeat(DeploymentConfigLoader.MAX_CODE_POINTS + 1));
        assertTrue(assertThrows(ConfigException.class, () -> DeploymentConfigLoader.load(manyCodePoints)).problem()
                .contains("code points"));
        Path bom = Files.writeString(tmp.resolve("bom.yaml"), "\uFEFFbundle: b\n");
        try {
            assertEquals(tmp.resolve("b").toAbsolutePath().normalize(), DeploymentConfigLoader.load(bom).bundle());
        } catch (ConfigException e) {
            throw new AssertionError(e);
        }
        assertNull(DeploymentConfig.defaults(Path.of("b")).source());
    }
}
