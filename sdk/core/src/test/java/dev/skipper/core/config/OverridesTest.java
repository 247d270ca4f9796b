package dev.skipper.core.config;

import dev.skipper.api.GenerationOptions;
import dev.skipper.api.SamplingOptions;
import dev.skipper.api.SpeculationMode;
import dev.skipper.runtime.spi.DeviceOptions;
import dev.skipper.runtime.spi.DevicePrecision;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OverridesTest {

    private static final String FILE = """
            bundle: /bundles/from-file
            backend: cpu
            threads: 2
            generation:
              max_new_tokens: 100
              stop: ["END"]
              sampling:
                greedy: false
                temperature: 0.5
                top_k: 20
                seed: 7
            """;

    @Test
    void requestBeatsCliBeatsFileBeatsDefaults() throws Exception {
        DeploymentConfig file = DeploymentConfigLoader.parse(FILE, Path.of("/etc/skipper/app.yaml"));
        Overrides cli = Overrides.builder().threads(4).temperature(0.9).topP(0.8).stop(List.of("\n\n")).build();
        Overrides request = Overrides.builder().temperature(1.2).maxNewTokens(16).seed(99L).build();

        DeploymentConfig c = file.withOverrides(cli).withOverrides(request);

        assertEquals(1.2, c.generation().sampling().temperature()); // request over CLI over file
        assertEquals(16, c.generation().maxNewTokens());            // request over file
        assertEquals(99L, c.generation().sampling().seed());        // request over file
        assertEquals(4, c.threads());                               // CLI over file
        assertEquals(0.8, c.generation().sampling().topP());        // CLI over default
        assertEquals(List.of("\n\n"), c.generation().stop());       // CLI replaces, not appends
        assertEquals(20, c.generation().sampling().topK());         // file
        assertEquals(List.of(BackendChoice.CPU), c.backends());     // file
        assertEquals(0.0, c.generation().sampling().minP());        // default
        assertEquals(0, c.contextLength());                         // default
        assertEquals(Path.of("/bundles/from-file"), c.bundle());
        assertEquals(Path.of("/etc/skipper/app.yaml"), c.source()); // kept

        GenerationOptions options = c.generation().toOptions();
        assertEquals(16, options.maxNewTokens());
        assertTrue(options.stopAtEos());
    }

    @Test
    void noOverridesChangesNothing() throws Exception {
        DeploymentConfig file = DeploymentConfigLoader.parse(FILE, Path.of("/etc/app.yaml"));
        assertEquals(file, file.withOverrides(Overrides.NONE));
    }

    @Test
    void greedyIsSwitchedExplicitly() {
        DeploymentConfig d = DeploymentConfig.defaults(Path.of("b"));
        // A temperature alone keeps greedy decoding: the caller also says greedy(false).
        assertTrue(d.withOverrides(Overrides.builder().temperature(0.7).build()).generation().sampling().greedy());
        SamplingOptions s = d.withOverrides(Overrides.builder().greedy(false).temperature(0.7).build())
                .generation().sampling();
        assertEquals(new SamplingOptions(false, 0.7, 0, 1.0, 0.0, 1.0, 0L), s);
    }

    @Test
    void everyFieldCanBeOverridden() {
        DeploymentConfig d = DeploymentConfig.defaults(Path.of("b"));
        DeploymentConfig c = d.withOverrides(Overrides.builder()
                .bundle(Path.of("/other")).backends(List.of(BackendChoice.CUDA, BackendChoice.CPU)).threads(8)
                .allowSpinning(true).contextLength(1024).maxNewTokens(5).stop(List.of("x")).greedy(false)
                .temperature(0.3).topK(3).topP(0.5).minP(0.1).repetitionPenalty(1.5).seed(-1L)
                .speculationMode(SpeculationMode.NGRAM).device(1).precision(DevicePrecision.FP16).build());
        assertEquals(new DeploymentConfig(Path.of("/other"), List.of(BackendChoice.CUDA, BackendChoice.CPU), 8, true,
                1024, new GenerationDefaults(5, new SamplingOptions(false, 0.3, 3, 0.5, 0.1, 1.5, -1L), List.of("x")),
                SpeculationConfig.OFF.withMode(SpeculationMode.NGRAM), new DeviceOptions(1, DevicePrecision.FP16, null),
                null), c);
        assertSame(SpeculationConfig.OFF, d.withOverrides(Overrides.NONE).speculation());
    }

    @Test
    void badOverridesFailWithTheFieldName() {
        DeploymentConfig d = DeploymentConfig.defaults(Path.of("b"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> d.withOverrides(Overrides.builder().topP(0.0).build()));
        assertTrue(e.getMessage().startsWith("top_p"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> d.withOverrides(Overrides.builder().threads(-2).build()));
        assertTrue(e.getMessage().startsWith("threads"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> d.withOverrides(Overrides.builder().backends(List.of(BackendChoice.AUTO, BackendChoice.CPU)).build()));
        assertTrue(e.getMessage().startsWith("backend"), e.getMessage());
    }
}
