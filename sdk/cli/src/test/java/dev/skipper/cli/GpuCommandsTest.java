package dev.skipper.cli;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.skipper.core.Backends;
import dev.skipper.runtime.spi.BackendOptions;
import dev.skipper.testing.TestData;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code build-engines} and {@code gpu-check}: on this machine (no GPU) through the real tensorrt
 * backend, and end to end through the TensorRT runner over the CPU stand-in of its native seam
 * (test backend {@code tensorrt-standin}, from the tensorrt module's test jar) on a tiny standard bundle.
 */
class GpuCommandsTest {
    private static final String STANDIN = "tensorrt-standin";

    @TempDir
    Path tmp;

    private static Cli.Result cli(String... args) {
        return Cli.run(EngineOpener.SKIPPER, args);
    }

    private static void assumeNoGpu() {
        Assumptions.assumeFalse(Backends.status("tensorrt", BackendOptions.DEFAULTS).usable(),
                "this machine has a usable GPU: the no-GPU answers cannot be checked here");
    }

    @Test
    void withoutAGpuGpuCheckSaysWhyAndExitsZero() {
        assumeNoGpu();
        Cli.Result r = cli("gpu-check");
        assertEquals(0, r.status(), r::toString);
        assertTrue(r.out().startsWith("gpu-check: no usable GPU for the tensorrt backend here: "), r::toString);
        assertEquals(1, r.out().lines().count(), r::toString);
        assertEquals("", r.err(), r::toString);

        Cli.Result j = cli("gpu-check", "--json");
        assertEquals(0, j.status(), j::toString);
        JsonObject doc = JsonParser.parseString(j.out()).getAsJsonObject();
        assertFalse(doc.get("gpu").getAsBoolean());
        assertFalse(doc.get("reason").getAsString().isBlank());

        Cli.Result p = cli("gpu-check", "--probe");
        assertEquals(0, p.status(), p::toString);
        assertTrue(p.out().startsWith("unusable: "), p::toString);
    }

    @Test
    void withoutAGpuBuildEnginesFailsInOneLine() {
        assumeNoGpu();
        Path bundle = TestData.bundle("tiny-bpe-fp32-standard");
        Cli.Result r = cli("build-engines", bundle.toString());
        assertEquals(2, r.status(), r::toString);
        assertEquals(1, r.err().lines().count(), r::toString);
        assertTrue(r.err().startsWith("error: backend tensorrt cannot run here: "), r::toString);
        assertEquals("", r.out());
    }

    @Test
    void buildEnginesBuildsOnceThenReusesTheCache() throws Exception {
        Path bundle = TestData.bundle("tiny-bpe-fp32-standard");
        Path cache = tmp.resolve("engines");
        Path config = Files.writeString(tmp.resolve("deploy.yaml"), "bundle: " + bundle + "\ngpu:\n  engine_cache: "
                + cache + "\n");
        Cli.Result first = cli("build-engines", "--backend", STANDIN, "--config", config.toString(), "--json");
        assertEquals(0, first.status(), first::toString);
        JsonObject a = JsonParser.parseString(first.out()).getAsJsonObject();
        int engines = a.get("engines").getAsInt();
        assertTrue(engines >= 4, "embed, layers, head at least: " + a);
        assertEquals(engines, a.get("built").getAsInt(), a.toString());
        assertEquals(cache.toString(), a.get("directory").getAsString());
        assertEquals("auto", a.get("precision").getAsString());
        // Not a terminal: one progress line per engine, the last one complete.
        assertEquals(engines, first.err().lines().filter(l -> l.startsWith("build-engines: [")).count(), first::toString);
        assertTrue(first.err().contains("] " + engines + "/" + engines + " "), first::toString);
        try (var files = Files.list(cache)) {
            assertEquals(engines, files.filter(f -> f.toString().endsWith(".plan")).count());
        }

        Cli.Result second = cli("build-engines", "--backend", STANDIN, "--config", config.toString());
        assertEquals(0, second.status(), second::toString);
        assertTrue(second.out().startsWith("build-engines: " + engines + " engines (0 built, " + engines
                + " already cached) in " + cache), second::toString);
        // Another precision is another key: built again, next to the first set.
        Cli.Result fp16 = cli("build-engines", "--backend", STANDIN, "--config", config.toString(), "--precision",
                "fp16", "--json");
        assertEquals(0, fp16.status(), fp16::toString);
        assertEquals(engines, JsonParser.parseString(fp16.out()).getAsJsonObject().get("built").getAsInt());
    }

    @Test
    void buildEnginesRefusesBadFlagsInOneLine() {
        Path bundle = TestData.bundle("tiny-bpe-fp32-standard");
        Cli.Result int8 = cli("build-engines", bundle.toString(), "--precision", "int8");
        assertEquals(2, int8.status(), int8::toString);
        assertTrue(int8.err().startsWith("error: --precision: int8: quantized GPU engines need a symmetric"),
                int8::toString);
        Cli.Result device = cli("build-engines", bundle.toString(), "--device", "64");
        assertEquals(2, device.status(), device::toString);
        assertTrue(device.err().startsWith("error: --device must be in [0, 63], got 64"), device::toString);
        Cli.Result none = cli("build-engines");
        assertEquals(2, none.status(), none::toString);
        assertTrue(none.err().startsWith("error: give a bundle directory or --config FILE"), none::toString);
        // An ort-flavour bundle: the backend says what to export instead.
        Cli.Result ort = cli("build-engines", "--backend", STANDIN, TestData.bundle("tiny-bpe-fp32").toString());
        assertEquals(2, ort.status(), ort::toString);
        assertTrue(ort.err().startsWith("error: the tensorrt backend needs a bundle of the standard flavour"),
                ort::toString);
    }

    @Test
    void gpuCheckPassesOnTheStandInAndReportsEveryFigure() throws Exception {
        Path bundle = TestData.bundle("tiny-bpe-fp32-standard");
        Path text = Files.writeString(tmp.resolve("text.txt"), "The quick brown fox jumps over the lazy dog. "
                .repeat(6));
        Path prompts = Files.writeString(tmp.resolve("prompts.txt"), "hello world\nthe the the the\nabc abc abc\n");
        Cli.Result r = cli("gpu-check", "--backend", STANDIN, "--bundle", bundle.toString(), "--text-file",
                text.toString(), "--prompts", prompts.toString(), "--max-tokens", "12", "--modes", "ngram,auto", "--json");
        assertEquals(0, r.status(), r::toString);
        JsonObject doc = JsonParser.parseString(r.out()).getAsJsonObject();
        assertTrue(doc.get("gpu").getAsBoolean());
        assertTrue(doc.get("passed").getAsBoolean(), doc.toString());
        assertEquals("fp16", doc.get("precision").getAsString(), "gpu-check checks fp16 engines by default");
        JsonObject agreement = doc.getAsJsonObject("agreement");
        // The stand-in runs the same ONNX files with ONNX Runtime: the argmax must agree everywhere.
        assertEquals(1.0, agreement.get("overall").getAsDouble(), 0.0, doc.toString());
        assertTrue(agreement.getAsJsonArray("texts").get(0).getAsJsonObject().get("positions").getAsInt() > 40);
        JsonObject identity = doc.getAsJsonObject("identity").getAsJsonObject("modes");
        for (String mode : new String[] {"ngram", "auto"}) {
            assertEquals(3, identity.getAsJsonObject(mode).get("identical").getAsInt(), doc.toString());
        }
        JsonObject bench = doc.getAsJsonObject("bench");
        for (String row : new String[] {STANDIN + " ar", STANDIN + " ngram", STANDIN + " auto", "cpu ar"}) {
            assertTrue(bench.getAsJsonObject(row).get("decode_tokens_per_s").getAsDouble() > 0, row + ": " + doc);
        }
        assertTrue(r.err().contains("gpu-check: engines: ["), "a progress bar on stderr: " + r.err());

        // Human output: the table and the verdict on stdout.
        Cli.Result table = cli("gpu-check", "--backend", STANDIN, "--bundle", bundle.toString(), "--text-file",
                text.toString(), "--prompts", prompts.toString(), "--max-tokens", "6", "--modes", "ngram");
        assertEquals(0, table.status(), table::toString);
        assertTrue(table.out().contains("identity ngram == plain on " + STANDIN + ": 3/3 prompts: PASS"), table::toString);
        assertTrue(table.out().contains("cpu ar"), table::toString);
        assertTrue(table.out().strip().endsWith("gpu-check: every check passed"), table::toString);
    }

    @Test
    void gpuCheckFailsWhenTheGpuBackendDisagreesWithTheCpu() throws Exception {
        // The faulty stand-in returns every logits row reversed: the check must catch it.
        Path bundle = TestData.bundle("tiny-bpe-fp32-standard");
        Path text = Files.writeString(tmp.resolve("text.txt"), "one two three four five six seven eight nine ten");
        Path prompts = Files.writeString(tmp.resolve("prompts.txt"), "hello\n");
        Cli.Result r = cli("gpu-check", "--backend", "tensorrt-standin-faulty", "--bundle", bundle.toString(),
                "--text-file", text.toString(), "--prompts", prompts.toString(), "--max-tokens", "4", "--modes", "ngram");
        assertEquals(2, r.status(), r::toString);
        assertTrue(r.out().contains("FAIL"), r::toString);
        String last = r.err().strip().lines().reduce((x, y) -> y).orElse("");
        assertTrue(last.startsWith("error: gpu-check failed: top-1 agreement with the cpu backend 0."), r::toString);

        Cli.Result missing = cli("gpu-check", "--backend", STANDIN, "--bundle", bundle.toString());
        assertEquals(2, missing.status(), missing::toString);
        assertTrue(missing.err().startsWith("error: a GPU is here: give --text-file"), missing::toString);
    }
}
