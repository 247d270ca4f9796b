package dev.skipper.runtime;

import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.bundle.BundleManifestReader;
import dev.skipper.runtime.spi.HiddenStates;
import dev.skipper.runtime.spi.KvCache;
import dev.skipper.testing.FixtureBundle;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The SPI checks and bookkeeping every backend inherits, through a backend in Java arrays
 * ({@link ArrayRunner}) over the 2-layer fixture bundle (hidden 576, 3 KV heads of 64, vocab 49152).
 */
class AbstractModelRunnerTest {
    @TempDir
    Path tmp;

    private ArrayRunner runner;
    private int vocab;

    @BeforeEach
    void open() throws Exception {
        BundleManifest m = BundleManifestReader.read(FixtureBundle.copyTo(tmp.resolve("b")), true);
        runner = new ArrayRunner(m);
        vocab = m.model().vocabSize();
    }

    @Test
    void aLayerAppendsAtTheCachedLengthAndAdvancesIt() throws Exception {
        try (KvCache kv = runner.newKvCache(8); HiddenStates hs = runner.newHiddenStates(4)) {
            runner.embed(new int[] {9, 5, 7}, 1, 2, hs); // tokens 5, 7
            runner.layer(0, hs, 2, kv);
            assertEquals(2, kv.length(0));
            assertEquals(0, kv.length(1), "only the layer that ran grows");
            runner.embed(new int[] {11}, 0, 1, hs);
            runner.layer(0, hs, 1, kv);
            assertEquals(3, kv.length(0));
            float[] keys = ((AbstractKvCache) kv).read(0, false, 0, 3);
            int width = 3 * 64;
            assertEquals(5f, keys[0]);
            assertEquals(7f, keys[width]);
            assertEquals(11f, keys[2 * width], "the third row went after the first two");
            assertEquals(-11f, ((AbstractKvCache) kv).read(0, true, 2, 1)[width - 1]);
            assertEquals(12f, hs.read(0, 1)[0], "the layer's output replaced the row");
            float[] logits = new float[vocab];
            runner.head(hs, 0, 1, logits);
            assertEquals(1f, logits[12]);
        }
    }

    @Test
    void aFailedLayerDoesNotAdvanceTheLength() throws Exception {
        try (KvCache kv = runner.newKvCache(8); HiddenStates hs = runner.newHiddenStates(2)) {
            runner.embed(new int[] {1, 2}, 0, 2, hs);
            runner.failNextLayer = true;
            assertThrows(SkipperException.class, () -> runner.layer(0, hs, 2, kv));
            assertEquals(0, kv.length(0));
        }
    }

    @Test
    void theCacheRefusesRowsPastItsCapacity() throws Exception {
        try (KvCache kv = runner.newKvCache(3); HiddenStates hs = runner.newHiddenStates(4)) {
            runner.embed(new int[] {1, 2, 3, 4}, 0, 2, hs);
            runner.layer(0, hs, 2, kv);
            runner.embed(new int[] {1, 2, 3, 4}, 0, 2, hs);
            SkipperException e = assertThrows(SkipperException.class, () -> runner.layer(0, hs, 2, kv));
            assertTrue(e.getMessage().contains("2 cached + 2 new tokens exceed the KV cache of 3"), e.getMessage());
            assertEquals(2, kv.length(0));
            runner.layer(0, hs, 1, kv); // exactly full is fine
            assertEquals(3, kv.length(0));
        }
    }

    @Test
    void truncationOnlyLowersLengths() throws Exception {
        try (KvCache kv = runner.newKvCache(8); HiddenStates hs = runner.newHiddenStates(4)) {
            runner.embed(new int[] {1, 2, 3, 4}, 0, 4, hs);
            runner.layer(0, hs, 4, kv);
            runner.layer(1, hs, 2, kv);
            kv.truncate(3);
            assertEquals(3, kv.length(0));
            assertEquals(2, kv.length(1), "a layer holding fewer keeps its own");
            kv.truncateLayer(1, 1);
            assertEquals(1, kv.length(1));
            assertEquals(3, kv.length(0));
            assertThrows(IllegalArgumentException.class, () -> kv.truncate(-1));
            assertThrows(IndexOutOfBoundsException.class, () -> kv.truncateLayer(2, 0));
        }
    }

    @Test
    void everyArgumentIsCheckedBeforeTheBackendRuns() throws Exception {
        try (KvCache kv = runner.newKvCache(8); HiddenStates hs = runner.newHiddenStates(2)) {
            assertThrows(IllegalArgumentException.class, () -> runner.embed(new int[] {vocab}, 0, 1, hs));
            assertThrows(IllegalArgumentException.class, () -> runner.embed(new int[] {-1}, 0, 1, hs));
            assertThrows(IndexOutOfBoundsException.class, () -> runner.embed(new int[] {1, 2, 3}, 0, 3, hs));
            assertThrows(IndexOutOfBoundsException.class, () -> runner.embed(new int[] {1}, 1, 1, hs));
            assertThrows(IndexOutOfBoundsException.class, () -> runner.embed(new int[] {1}, 0, 0, hs));
            assertThrows(IndexOutOfBoundsException.class, () -> runner.layer(2, hs, 1, kv));
            assertThrows(IndexOutOfBoundsException.class, () -> runner.layer(-1, hs, 1, kv));
            assertThrows(IndexOutOfBoundsException.class, () -> runner.layer(0, hs, 3, kv));
            assertThrows(IllegalArgumentException.class, () -> runner.head(hs, 0, 2, new float[vocab]));
            assertThrows(IndexOutOfBoundsException.class, () -> runner.head(hs, 1, 2, new float[2 * vocab]));
            try (HiddenStates three = runner.newHiddenStates(3)) {
                assertThrows(IllegalArgumentException.class, () -> runner.copyRows(three, 0, three, 1, 2), "overlap");
                runner.copyRows(three, 0, three, 2, 1); // disjoint rows of one buffer are fine
            }
            assertThrows(UnsupportedOperationException.class, () -> runner.exitHead(1, hs, 1, new float[1]));
            assertThrows(UnsupportedOperationException.class, () -> runner.draftHead(hs, 1, new float[1]));
            assertThrows(UnsupportedOperationException.class, runner::draftVocabulary);
            assertThrows(UnsupportedOperationException.class, () -> runner.fillKv(0, hs, 1, kv));
            assertFalse(runner.hasDraftHeads());
            assertFalse(runner.hasKvFill());
            assertEquals(0, kv.length(0), "nothing ran");
        }
        assertThrows(SkipperException.class, () -> runner.newKvCache(0));
        assertThrows(SkipperException.class, () -> runner.newKvCache(8193));
        assertThrows(SkipperException.class, () -> runner.newHiddenStates(0));
    }

    @Test
    void objectsFromAnotherRunnerOrClosedOnesAreRefused() throws Exception {
        ArrayRunner other = new ArrayRunner(runner.manifest());
        try (KvCache theirs = other.newKvCache(4); HiddenStates theirRows = other.newHiddenStates(1);
             KvCache kv = runner.newKvCache(4); HiddenStates hs = runner.newHiddenStates(1)) {
            assertThrows(IllegalArgumentException.class, () -> runner.layer(0, hs, 1, theirs));
            assertThrows(IllegalArgumentException.class, () -> runner.layer(0, theirRows, 1, kv));
            assertThrows(IllegalArgumentException.class, () -> runner.copyRows(hs, 0, theirRows, 0, 1));
            hs.close();
            assertThrows(IllegalStateException.class, () -> runner.embed(new int[] {1}, 0, 1, hs));
            assertThrows(IllegalStateException.class, () -> hs.read(0, 1));
            kv.close();
            kv.close();
            assertEquals(1, ((ArrayRunner.Cache) kv).releases, "close frees once");
            assertThrows(IllegalStateException.class, () -> kv.length(0));
        }
    }

    @Test
    void aClosedRunnerRefusesEveryCallAndClosesOnce() throws Exception {
        HiddenStates hs = runner.newHiddenStates(1);
        runner.close();
        runner.close();
        assertEquals(1, runner.closeCalls);
        assertThrows(IllegalStateException.class, () -> runner.embed(new int[] {1}, 0, 1, hs));
        assertThrows(IllegalStateException.class, () -> runner.newKvCache(4));
        assertThrows(IllegalStateException.class, () -> runner.newHiddenStates(1));
    }

    @Test
    void readGivesRowsInTokenOrderWhateverTheLayout() throws Exception {
        KvGeometry seq = new KvGeometry(1, 4, 1, 2, 3, 4, BundleManifest.KvLayout.SEQUENCE_MAJOR);
        KvGeometry head = new KvGeometry(1, 4, 1, 2, 3, 4, BundleManifest.KvLayout.HEAD_MAJOR_SHARED);
        assertEquals(((long) 2 * 2 + 1) * 3 + 2, seq.elementIndex(2, 1, 2), "[row][head][d]");
        assertEquals(((long) 1 * 5 + 2) * 3 + 2, head.elementIndex(2, 1, 2), "[head][row of maxSeq+scratch][d]");
        assertEquals(5, head.bufferRows());
        assertEquals(6L * 4 * 5, head.bufferBytes());
        assertEquals(2 * 6L * 4 * 5, head.totalBytes());
        ArrayRunner.Cache c = new ArrayRunner.Cache(runner, head);
        for (int r = 0; r < 2; r++) {
            for (int h = 0; h < 2; h++) {
                for (int d = 0; d < 3; d++) {
                    c.keys[0][(int) head.elementIndex(r, h, d)] = 100 * r + 10 * h + d;
                }
            }
        }
        assertArrayEquals(new float[] {100, 101, 102, 110, 111, 112}, c.read(0, false, 1, 1));
    }

    @Test
    void geometryOverflowAndSizeLimitsAreReported() throws Exception {
        assertThrows(ArithmeticException.class,
                () -> new KvGeometry(4096, Integer.MAX_VALUE - 16, 16, 4096, 4096, 4, BundleManifest.KvLayout.SEQUENCE_MAJOR));
        KvGeometry g = KvGeometry.of(runner.manifest(), 8192);
        assertEquals(8192L * 3 * 64 * 4, g.bufferBytes());
        SkipperException e = assertThrows(SkipperException.class, () -> g.checkBufferAtMost(1024));
        assertTrue(e.getMessage().contains("per layer buffer"), e.getMessage());
    }
}
