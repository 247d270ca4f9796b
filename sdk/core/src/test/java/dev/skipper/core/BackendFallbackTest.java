package dev.skipper.core;

import dev.skipper.api.BundleFormatException;
import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.core.config.DeploymentConfig;
import dev.skipper.core.config.DeploymentConfigLoader;
import dev.skipper.ort.OrtBackendProvider;
import dev.skipper.runtime.spi.BackendOptions;
import dev.skipper.runtime.spi.BackendProvider;
import dev.skipper.runtime.spi.ModelRunner;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Backend choice and fallback, context length, and opening from a deployment file. */
class BackendFallbackTest {
    /** Collects the records of the {@link Skipper} logger (System.Logger goes to java.util.logging here). */
    private static final class Capture extends Handler implements AutoCloseable {
        final List<LogRecord> records = new ArrayList<>();
        private final Logger logger = Logger.getLogger(Skipper.class.getName());

        Capture() {
            logger.addHandler(this);
        }

        @Override
        public synchronized void publish(LogRecord r) {
            records.add(r);
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
            logger.removeHandler(this);
        }

        synchronized List<LogRecord> warnings() {
            return records.stream().filter(r -> r.getLevel().intValue() >= Level.WARNING.intValue()).toList();
        }
    }

    /** A provider that is on the class path but cannot run here. */
    private record Unavailable(String name, String reason) implements BackendProvider {
        @Override
        public String unavailableReason() {
            return reason;
        }

        @Override
        public ModelRunner open(Path bundleDir, BundleManifest manifest, BackendOptions options) {
            throw new AssertionError("must not be opened");
        }
    }

    /** A provider that says it can run but fails to open the bundle. */
    private record Failing(String name) implements BackendProvider {
        @Override
        public String unavailableReason() {
            return null;
        }

        @Override
        public ModelRunner open(Path bundleDir, BundleManifest manifest, BackendOptions options) throws SkipperException {
            throw new SkipperException("the bundle's flavour is ort, this backend needs standard");
        }
    }

    @Test
    void anUnknownGpuBackendFallsBackToCpuWithOneWarning() throws Exception {
        try (Capture log = new Capture();
             DefaultEngine engine = Skipper.open(EngineTestData.bundle("tiny-bpe-fp32"), BackendOptions.DEFAULTS,
                     List.of("tensorrt", "cpu"), 0)) {
            assertEquals("cpu", engine.backendName());
            String warning = engine.backendWarning().orElseThrow();
            assertTrue(warning.contains("tensorrt") && warning.contains("falling back to cpu"), warning);
            assertEquals(1, log.warnings().size(), "exactly one warning");
            assertEquals(warning, log.warnings().get(0).getMessage());
            assertEquals(512, engine.contextLength(), "0 = the model's max_position");
            try (DefaultSession s = engine.newSession()) {
                assertEquals(512, s.contextLength());
            }
        }
    }

    @Test
    void anUnavailableBackendAloneFailsNamingWhy() throws Exception {
        Path bundle = EngineTestData.bundle("tiny-bpe-fp32");
        SkipperException e = assertThrows(SkipperException.class, () -> Skipper.open(
                bundle, BackendOptions.DEFAULTS, List.of("tensorrt"), 0));
        assertTrue(e.getMessage().contains("tensorrt: no 'tensorrt' backend is on the class path"), e.getMessage());

        SkipperException both = assertThrows(SkipperException.class, () -> Skipper.open(
                bundle, BackendOptions.DEFAULTS, List.of("cuda", "tensorrt"), 0));
        assertTrue(both.getMessage().contains("cuda: ") && both.getMessage().contains("tensorrt: "), both.getMessage());
    }

    @Test
    void reasonsOfUnavailableAndFailingBackendsAreReported() throws Exception {
        List<BackendProvider> providers = List.of(new Unavailable("cuda", "no CUDA device is visible"),
                new Failing("tensorrt"), new OrtBackendProvider());
        try (Capture log = new Capture();
             DefaultEngine engine = Skipper.open(EngineTestData.bundle("tiny-bpe-fp32"), BackendOptions.DEFAULTS,
                     List.of("CUDA", "tensorrt", "cpu"), 64, providers)) {
            assertEquals("cpu", engine.backendName());
            String warning = engine.backendWarning().orElseThrow();
            assertTrue(warning.contains("cuda (no CUDA device is visible)"), warning);
            assertTrue(warning.contains("tensorrt (cannot open the bundle: the bundle's flavour is ort"), warning);
            assertEquals(1, log.warnings().size());
        }
        Path bundle = EngineTestData.bundle("tiny-bpe-fp32");
        SkipperException e = assertThrows(SkipperException.class, () -> Skipper.open(
                bundle, BackendOptions.DEFAULTS, List.of("cuda", "tensorrt"), 64, providers));
        assertTrue(e.getMessage().contains("no CUDA device is visible") && e.getMessage().contains("needs standard"),
                e.getMessage());
    }

    @Test
    void threadsAboveTheProcessorsAreCappedWithOneWarning() throws Exception {
        BackendOptions asked = new BackendOptions(999, true);
        try (Capture log = new Capture()) {
            BackendOptions used = Skipper.capThreads(asked, 2);
            assertEquals(2, used.intraOpThreads());
            assertEquals(asked.allowSpinning(), used.allowSpinning());
            assertEquals(1, log.warnings().size(), "exactly one warning");
            String w = log.warnings().get(0).getMessage();
            assertTrue(w.contains("threads=999") && w.contains("using 2"), w);
        }
        try (Capture log = new Capture()) {
            BackendOptions two = new BackendOptions(2, true);
            assertSame(two, Skipper.capThreads(two, 2), "within the processors: unchanged");
            assertSame(BackendOptions.DEFAULTS, Skipper.capThreads(BackendOptions.DEFAULTS, 1), "0 = default");
            assertEquals(0, log.warnings().size());
        }
        // End to end: a pool of 999 threads crashed ONNX Runtime in native code; now it opens and runs.
        try (Capture log = new Capture();
             DefaultEngine engine = Skipper.open(EngineTestData.bundle("tiny-bpe-fp32"), asked, List.of("cpu"), 0);
             DefaultSession s = engine.newSession()) {
            assertEquals(3, s.generate("hello", EngineTestData.greedyNoEos(3), null).tokenIds().length);
            assertEquals(BackendOptions.availableProcessors() < 999 ? 1 : 0, log.warnings().size());
        }
    }

    @Test
    void autoIsCpuWithoutWarning() throws Exception {
        try (Capture log = new Capture();
             DefaultEngine engine = Skipper.open(EngineTestData.bundle("tiny-spm-int4"), BackendOptions.DEFAULTS,
                     List.of("auto"), 128)) {
            assertEquals("cpu", engine.backendName());
            assertTrue(engine.backendWarning().isEmpty());
            assertEquals(List.of(), log.warnings());
            assertEquals(128, engine.contextLength());
        }
    }

    @Test
    void autoTriesTheGpuBackendsFirstQuietlyButWarnsWhenOneThatCouldRunFails() throws Exception {
        assertEquals(List.of("tensorrt", "cuda", "cpu"), BackendSelector.expand(List.of("auto")));
        Path bundle = EngineTestData.bundle("tiny-bpe-fp32");
        // A CPU-only machine: both GPU backends installed but unusable, nothing to warn about.
        List<BackendProvider> cpuOnly = List.of(new Unavailable("tensorrt", "no NVIDIA driver is installed"),
                new Unavailable("cuda", "no CUDA device is visible"), new OrtBackendProvider());
        try (Capture log = new Capture();
             DefaultEngine engine = Skipper.open(bundle, BackendOptions.DEFAULTS, List.of("auto"), 64, cpuOnly)) {
            assertEquals("cpu", engine.backendName());
            assertTrue(engine.backendWarning().isEmpty());
            assertEquals(List.of(), log.warnings());
        }
        // A GPU that could run but refused the bundle: the user must hear why it runs on the CPU.
        List<BackendProvider> failing = List.of(new Failing("tensorrt"),
                new Unavailable("cuda", "no CUDA device is visible"), new OrtBackendProvider());
        try (Capture log = new Capture();
             DefaultEngine engine = Skipper.open(bundle, BackendOptions.DEFAULTS, List.of("auto"), 64, failing)) {
            assertEquals("cpu", engine.backendName());
            String warning = engine.backendWarning().orElseThrow();
            assertTrue(warning.startsWith("backend tensorrt (cannot open the bundle: the bundle's flavour is ort"), warning);
            assertTrue(!warning.contains("cuda"), "cuda could not run here: not a problem worth a warning: " + warning);
            assertEquals(1, log.warnings().size());
        }
        // Nothing works: the error names every reason, the quiet ones too.
        SkipperException e = assertThrows(SkipperException.class, () -> Skipper.open(bundle, BackendOptions.DEFAULTS,
                List.of("auto"), 64, cpuOnly.subList(0, 2)));
        assertTrue(e.getMessage().contains("no NVIDIA driver") && e.getMessage().contains("cpu: no 'cpu' backend"),
                e.getMessage());
    }

    @Test
    void contextLengthsBeyondTheModelAndBadBundlesAreRefused(@TempDir Path empty) throws Exception {
        Path bundle = EngineTestData.bundle("tiny-bpe-fp32");
        SkipperException e = assertThrows(SkipperException.class, () -> Skipper.open(
                bundle, BackendOptions.DEFAULTS, List.of("cpu"), 513));
        assertTrue(e.getMessage().contains("513") && e.getMessage().contains("512"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Skipper.open(bundle, BackendOptions.DEFAULTS,
                List.of("cpu"), -1));
        assertThrows(IllegalArgumentException.class, () -> Skipper.open(bundle, BackendOptions.DEFAULTS, List.of(), 0));
        assertThrows(BundleFormatException.class, () -> Skipper.open(empty, BackendOptions.DEFAULTS, List.of("cpu"), 0));
    }

    @Test
    void aDeploymentFileOpensItsBundleOnItsBackends(@TempDir Path dir) throws Exception {
        Path yaml = dir.resolve("deploy.yaml");
        Files.writeString(yaml, "bundle: " + EngineTestData.bundle("tiny-bpe-fp32").toAbsolutePath() + "\n"
                + "backend: [tensorrt, cpu]\nthreads: 1\ncontext_length: 100\n"
                + "generation:\n  max_new_tokens: 5\n");
        DeploymentConfig cfg = DeploymentConfigLoader.load(yaml);
        try (DefaultEngine engine = Skipper.open(cfg); DefaultSession session = engine.newSession()) {
            assertEquals("cpu", engine.backendName());
            assertTrue(engine.backendWarning().isPresent());
            assertEquals(100, session.contextLength());
            String prompt = EngineTestData.goldens("tiny-bpe-fp32").prompts().get(0).text();
            assertEquals(5, session.generate(prompt, cfg.generation().toOptions(), null).tokenIds().length);
        }
        // A speculation mode the bundle cannot serve is an error when the engine opens (that test
        // bundle is not calibrated).
        Path uncalibrated = EngineTestData.bundle(dev.skipper.testing.TestData.UNCALIBRATED).toAbsolutePath();
        Files.writeString(yaml, "bundle: " + uncalibrated + "\n" + "speculation:\n  mode: layer-skip\n");
        SkipperException e = assertThrows(SkipperException.class,
                () -> Skipper.open(DeploymentConfigLoader.load(yaml)));
        assertTrue(e.getMessage().contains("mode layer-skip needs speculation.skip_layers"), e.getMessage());
        Files.writeString(yaml, "bundle: " + uncalibrated + "\n" + "speculation:\n  mode: exit-head\n");
        e = assertThrows(SkipperException.class, () -> Skipper.open(DeploymentConfigLoader.load(yaml)));
        assertTrue(e.getMessage().contains("mode exit-head needs a bundle calibrated with ./skipper calibrate"),
                e.getMessage());
        Files.writeString(yaml, "bundle: " + uncalibrated + "\n" + "adaptive_depth:\n  enabled: true\n");
        e = assertThrows(SkipperException.class, () -> Skipper.open(DeploymentConfigLoader.load(yaml)));
        assertTrue(e.getMessage().contains("adaptive depth needs exit heads"), e.getMessage());
        Files.writeString(yaml, "bundle: " + EngineTestData.bundle("tiny-bpe-fp32").toAbsolutePath() + "\n"
                + "speculation:\n  mode: early-exit\n  exit_layer: 99\n");
        e = assertThrows(SkipperException.class, () -> Skipper.open(DeploymentConfigLoader.load(yaml)));
        assertTrue(e.getMessage().contains("exit_layer must be in [1, "), e.getMessage());
    }
}
