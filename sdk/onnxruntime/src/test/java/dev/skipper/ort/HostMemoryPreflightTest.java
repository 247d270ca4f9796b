package dev.skipper.ort;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipper.api.SkipperException;
import dev.skipper.runtime.HostMemory;
import dev.skipper.runtime.spi.KvCache;
import dev.skipper.testing.TestData;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The cpu backend's memory preflight: a bundle whose weights do not fit the RAM available is
 * refused at open, and a KV cache that does not fit is refused before it is allocated, each in one
 * line naming what is needed, what is free and the largest context that fits. The RAM available is
 * pretended through {@link HostMemory#PRETEND_PROPERTY}; {@code /proc/meminfo} parsing is checked on
 * files.
 */
class HostMemoryPreflightTest {
    @TempDir
    Path tmp;

    @AfterEach
    void forget() {
        System.clearProperty(HostMemory.PRETEND_PROPERTY);
    }

    @Test
    void weightsThatDoNotFitAreRefusedAtOpen() {
        System.setProperty(HostMemory.PRETEND_PROPERTY, "1000");
        SkipperException e = assertThrows(SkipperException.class, () -> TestCases.open(TestData.bundle("tiny-bpe-fp32")));
        String m = e.getMessage();
        assertTrue(m.startsWith("not enough memory on this machine (RAM available): a context of 1 tokens needs ")
                && m.contains("weights ") && m.contains("0.0 MiB is free") && m.contains("not even the weights fit"), m);
        assertFalse(m.contains("\n"), m);
    }

    @Test
    void aKvCacheThatDoesNotFitIsRefusedBeforeItIsAllocatedNamingTheLargestContext() throws Exception {
        try (OrtModelRunner runner = TestCases.open(TestData.bundle("tiny-bpe-fp32"))) {
            var m = runner.manifest().model();
            long perToken = 2L * m.numLayers() * m.numKvHeads() * m.headDim() * 4;
            System.setProperty(HostMemory.PRETEND_PROPERTY, String.valueOf(100 * perToken + perToken / 2));
            try (KvCache fits = runner.newKvCache(64)) {
                assertTrue(fits.maxSeq() >= 64);
            }
            SkipperException e = assertThrows(SkipperException.class, () -> runner.newKvCache(200));
            String msg = e.getMessage();
            assertTrue(msg.startsWith("not enough memory on this machine (RAM available) for the KV cache: a context of "
                    + "200 tokens needs "), msg);
            assertTrue(msg.matches(".*the largest context that fits is (9[0-9]|100) tokens.*"), msg);
        }
    }

    @Test
    void meminfoIsReadInKilobytesAndAnythingElseIsUnknown() throws Exception {
        Path f = Files.writeString(tmp.resolve("meminfo"), "MemTotal:       24000000 kB\nMemAvailable:   1234 kB\n");
        assertTrue(HostMemory.read(f, "MemAvailable:") == 1234L * 1024);
        assertTrue(HostMemory.read(f, "SwapFree:") == -1);
        Path bad = Files.writeString(tmp.resolve("bad"), "MemAvailable: lots kB\n");
        assertTrue(HostMemory.read(bad, "MemAvailable:") == -1);
        assertTrue(HostMemory.read(tmp.resolve("missing"), "MemAvailable:") == -1);
        assertTrue(HostMemory.availableBytes() != 0, "this machine reports something or -1");
        Path two = Files.writeString(tmp.resolve("status"), "VmHWM:  2048 kB\nVmRSS: bad kB\nRssAnon:  7 kB\n");
        assertArrayEquals(new long[] {2048L * 1024, -1, 7L * 1024, -1},
                HostMemory.read(two, "VmHWM:", "VmRSS:", "RssAnon:", "RssFile:"));
        assertArrayEquals(new long[] {-1, -1}, HostMemory.read(tmp.resolve("missing"), "VmHWM:", "VmRSS:"));
    }
}
