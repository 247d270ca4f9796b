package dev.skipper.tensorrt;

import dev.skipper.runtime.profiles.ProfilePlan;
import dev.skipper.runtime.profiles.EngineSpec;
import dev.skipper.runtime.spi.DevicePrecision;
import dev.skipper.api.SkipperException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The engine cache's key, container integrity checks and atomic writes. */
class EngineCacheTest {
    private static final TrtNative.DeviceInfo ORIN = new TrtNative.DeviceInfo(0, "Orin", 8, 7, 8L << 30);
    private static final ProfilePlan PLAN = new ProfilePlan(16, 64, 2048, 576, 3, 64);

    @TempDir
    Path dir;

    private final List<String> log = new ArrayList<>();

    private EngineCache cache(String version, TrtNative.DeviceInfo device) {
        return new EngineCache(dir, version, device, log::add);
    }

    private static EngineSpec spec(DevicePrecision p) {
        return PLAN.spec(ProfilePlan.GraphKind.LAYER, p, 1 << 20);
    }

    @Test
    void aStoredPlanComesBackAndEveryKeyPartNamesAnotherFile() throws Exception {
        EngineCache c = cache("10.15.1", ORIN);
        String key = c.key("ab12", spec(DevicePrecision.AUTO));
        byte[] plan = {1, 2, 3, 4, 5};
        c.store("layer_0", key, plan);
        assertArrayEquals(plan, c.load("layer_0", key));
        List<String> others = List.of(
                cache("10.3.0", ORIN).key("ab12", spec(DevicePrecision.AUTO)),
                cache("10.15.1", new TrtNative.DeviceInfo(0, "NVIDIA GeForce RTX 4090", 8, 9, 24L << 30))
                        .key("ab12", spec(DevicePrecision.AUTO)),
                c.key("ab13", spec(DevicePrecision.AUTO)),
                c.key("ab12", spec(DevicePrecision.FP16)),
                c.key("ab12", new ProfilePlan(8, 64, 2048, 576, 3, 64).spec(ProfilePlan.GraphKind.LAYER,
                        DevicePrecision.AUTO, 1 << 20)));
        for (String other : others) {
            assertNotEquals(c.planPath("layer_0", key), c.planPath("layer_0", other), other);
            assertNull(c.load("layer_0", other), other);
        }
        try (var files = Files.list(dir)) {
            assertEquals(List.of(c.planPath("layer_0", key).getFileName().toString()),
                    files.map(f -> f.getFileName().toString()).toList(), "no temp file is left behind");
        }
    }

    @Test
    void truncatedCorruptAndForeignFilesAreDetectedAndReportedInOneLine() throws Exception {
        EngineCache c = cache("10.15.1", ORIN);
        String key = c.key("ab12", spec(DevicePrecision.AUTO));
        byte[] plan = new byte[1000];
        Arrays.fill(plan, (byte) 7);
        byte[] good = EngineCache.wrap(key, plan);
        Path file = c.planPath("head", key);
        Files.createDirectories(dir);
        List<byte[]> bad = new ArrayList<>();
        bad.add(Arrays.copyOf(good, good.length - 1));              // truncated plan
        bad.add(Arrays.copyOf(good, 10));                           // truncated header
        byte[] flipped = good.clone();
        flipped[flipped.length - 3] ^= 1;                           // one bit of the plan
        bad.add(flipped);
        byte[] magic = good.clone();
        magic[0] = 'X';
        bad.add(magic);
        bad.add(EngineCache.wrap(key + "x", plan));                 // another key in the file
        byte[] hugeKey = good.clone();
        hugeKey[8] = 0x7f;                                          // key length 2^31-ish
        bad.add(hugeKey);
        bad.add(new byte[0]);
        for (byte[] b : bad) {
            Files.write(file, b);
            log.clear();
            assertNull(c.load("head", key));
            assertEquals(1, log.size());
            assertTrue(log.get(0).contains(file.toString()) && log.get(0).endsWith("rebuilding it")
                    && !log.get(0).contains("\n"), log.get(0));
        }
        Files.write(file, good);
        assertArrayEquals(plan, c.load("head", key));
    }

    @Test
    void anUnwritableCacheIsAOneLineErrorNamingTheFile() throws Exception {
        Path blocker = dir.resolve("not-a-dir");
        Files.writeString(blocker, "x");
        EngineCache c = new EngineCache(blocker.resolve("engines"), "10.15.1", ORIN, log::add);
        SkipperException e = assertThrows(SkipperException.class,
                () -> c.store("embed", "k", new byte[] {1}));
        assertTrue(e.getMessage().contains(blocker.toString()) && !e.getMessage().contains("\n"), e.getMessage());
    }
}
