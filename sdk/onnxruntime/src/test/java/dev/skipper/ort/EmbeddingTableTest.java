package dev.skipper.ort;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.bundle.BundleManifestReader;
import dev.skipper.runtime.EmbeddingTable;
import dev.skipper.runtime.spi.HiddenStates;
import dev.skipper.testing.TestData;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The runner's embedding from the bundle's described table ({@code graphs.embed.table}, read by
 * positional reads instead of running {@code embed.onnx}) gives every token's row bit for bit as
 * the graph does; a table that runs past its file is refused in one line; a bundle without a table
 * (float16 activations) keeps the graph.
 */
class EmbeddingTableTest {
    @ParameterizedTest
    @ValueSource(strings = {"tiny-bpe-fp32", "tiny-spm-int4", "tiny-spm-int4-int8", "tiny-bpe-fp32-standard",
            "smollm2-int4-int8"})
    void everyRowIsTheGraphsBitForBit(String name) throws Exception {
        Path bundle = TestData.bundle(name);
        BundleManifest m = BundleManifestReader.read(bundle, false);
        assertNotNull(m.graphs().embedTable(), name + ": the exporter describes float32 tables");
        int vocab = m.model().vocabSize();
        int hidden = m.model().hiddenSize();
        int chunk = 256;
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtModelRunner runner = TestCases.open(bundle);
             HiddenStates hs = runner.newHiddenStates(chunk);
             OrtSession graph = env.createSession(m.resolve(m.graphs().embed().file()).toString(),
                     new OrtSession.SessionOptions())) {
            int[] ids = new int[chunk];
            long[] longIds = new long[chunk];
            for (int start = 0; start < vocab; start += chunk) {
                int n = Math.min(chunk, vocab - start);
                for (int i = 0; i < n; i++) {
                    ids[i] = start + i;
                    longIds[i] = start + i;
                }
                runner.embed(ids, 0, n, hs);
                float[] got = hs.read(0, n);
                float[] want;
                try (OnnxTensor in = OnnxTensor.createTensor(env, LongBuffer.wrap(longIds, 0, n), new long[] {1, n});
                     OrtSession.Result r = graph.run(Map.of("input_ids", in))) {
                    want = new float[n * hidden];
                    ((OnnxTensor) r.get(0)).getFloatBuffer().get(want);
                }
                for (int i = 0; i < want.length; i++) {
                    if (Float.floatToRawIntBits(want[i]) != Float.floatToRawIntBits(got[i])) {
                        throw new AssertionError(name + ": token " + (start + i / hidden) + " column " + (i % hidden)
                                + ": table " + got[i] + " vs graph " + want[i]);
                    }
                }
            }
        }
    }

    @Test
    void aBundleWithoutATableKeepsTheGraph() throws Exception {
        BundleManifest m = BundleManifestReader.read(TestData.bundle(TestData.UNCALIBRATED), false);
        assertEquals(BundleManifest.DType.FLOAT16, m.weights().activations());
        assertNull(m.graphs().embedTable());
        assertNull(EmbeddingTable.open(m));
    }

    @Test
    void aTableThatRunsPastItsFileIsRefusedNamingIt(@TempDir Path dir) throws Exception {
        Path src = TestData.bundle("tiny-bpe-fp32");
        Path copy = dir.resolve("bundle");
        copyTree(src, copy);
        Path data = copy.resolve("embed.bin");
        long size = Files.size(data);
        try (var ch = java.nio.channels.FileChannel.open(data, java.nio.file.StandardOpenOption.WRITE)) {
            ch.truncate(size - 1);
        }
        BundleManifest m = BundleManifestReader.read(copy, false); // hashes not checked: the table's own check
        SkipperException e = assertThrows(SkipperException.class, () -> EmbeddingTable.open(m));
        assertTrue(e.getMessage().contains("embed.bin") && e.getMessage().contains("run past the file")
                && !e.getMessage().contains("\n"), e.getMessage());
        try (EmbeddingTable t = EmbeddingTable.open(BundleManifestReader.read(src, false))) {
            ByteBuffer out = ByteBuffer.allocate(4 * t.spec().columns()).order(ByteOrder.nativeOrder());
            assertThrows(IndexOutOfBoundsException.class, () -> t.rows(new int[] {t.spec().rows()}, 0, 1, out, 0));
            assertThrows(IndexOutOfBoundsException.class, () -> t.rows(new int[] {-1}, 0, 1, out, 0));
            assertThrows(IndexOutOfBoundsException.class, () -> t.rows(new int[] {0, 1}, 0, 2, out, 0), "two rows, room for one");
            // An interrupted caller (a cancelled worker) must not break the table for everyone else.
            t.rows(new int[] {5}, 0, 1, out, 0);
            float first = out.getFloat(0);
            Thread.currentThread().interrupt();
            try {
                t.rows(new int[] {5}, 0, 1, out, 0);
            } finally {
                assertTrue(Thread.interrupted(), "the interrupt is left to its owner");
            }
            out.putFloat(0, Float.NaN);
            t.rows(new int[] {5}, 0, 1, out, 0);
            assertEquals(first, out.getFloat(0), "rows read after an interrupted read");
        }
    }

    private static void copyTree(Path from, Path to) throws Exception {
        try (var walk = Files.walk(from)) {
            for (Path p : (Iterable<Path>) walk::iterator) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }
}
