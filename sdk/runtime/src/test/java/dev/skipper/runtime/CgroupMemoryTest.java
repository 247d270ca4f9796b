package dev.skipper.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Control-group headroom over fake /proc/self/cgroup and /sys/fs/cgroup trees (v1 and v2). */
class CgroupMemoryTest {
    @TempDir
    Path tmp;

    private Path write(String rel, String text) throws IOException {
        Path f = tmp.resolve(rel);
        Files.createDirectories(f.getParent());
        return Files.writeString(f, text);
    }

    @Test
    void v2LimitMinusUseWithoutInactiveCache() throws IOException {
        Path self = write("proc/cgroup", "0::/system.slice/robot.service\n");
        write("cg/cgroup.controllers", "cpu memory\n");
        write("cg/system.slice/robot.service/memory.max", "1000000000\n");
        write("cg/system.slice/robot.service/memory.current", "400000000\n");
        write("cg/system.slice/robot.service/memory.stat", "anon 300000000\ninactive_file 100000000\n");
        assertEquals(1_000_000_000L - 300_000_000L, CgroupMemory.headroom(self, tmp.resolve("cg")));
    }

    @Test
    void v2TakesTheTightestLimitOnTheWayUpAndMaxIsNoLimit() throws IOException {
        Path self = write("proc/cgroup", "0::/a/b\n");
        write("cg/cgroup.controllers", "memory\n");
        write("cg/a/memory.max", "500000000\n");
        write("cg/a/b/memory.max", "max\n");
        write("cg/a/b/memory.current", "100000000\n");
        assertEquals(400_000_000L, CgroupMemory.headroom(self, tmp.resolve("cg")));
        write("cg/a/memory.max", "max\n");
        assertEquals(-1, CgroupMemory.headroom(self, tmp.resolve("cg")), "no limit anywhere");
    }

    @Test
    void v2InANamespaceReadsTheMountRoot() throws IOException {
        Path self = write("proc/cgroup", "0::/\n");
        write("cg/cgroup.controllers", "memory\n");
        write("cg/memory.max", "2000000000\n");
        write("cg/memory.current", "500000000\n");
        assertEquals(1_500_000_000L, CgroupMemory.headroom(self, tmp.resolve("cg")));
        Path elsewhere = write("proc/cgroup2", "0::/docker/abc\n"); // a path the namespace does not show
        assertEquals(1_500_000_000L, CgroupMemory.headroom(elsewhere, tmp.resolve("cg")));
    }

    @Test
    void v1MemoryControllerAndItsHugeNoLimit() throws IOException {
        Path self = write("proc/cgroup", "5:cpu,cpuacct:/\n4:memory:/docker/abc\n0::/\n");
        write("cg/memory/docker/abc/memory.limit_in_bytes", "800000000\n");
        write("cg/memory/docker/abc/memory.usage_in_bytes", "300000000\n");
        write("cg/memory/docker/abc/memory.stat", "cache 1\ntotal_inactive_file 50000000\n");
        assertEquals(800_000_000L - 250_000_000L, CgroupMemory.headroom(self, tmp.resolve("cg")));
        write("cg/memory/docker/abc/memory.limit_in_bytes", "9223372036854771712\n");
        assertEquals(-1, CgroupMemory.headroom(self, tmp.resolve("cg")));
    }

    @Test
    void overTheLimitIsZeroAndGarbageIsUnknown() throws IOException {
        Path self = write("proc/cgroup", "4:memory:/\n");
        write("cg/memory/memory.limit_in_bytes", "100\n");
        write("cg/memory/memory.usage_in_bytes", "500\n");
        assertEquals(0, CgroupMemory.headroom(self, tmp.resolve("cg")));
        write("cg/memory/memory.usage_in_bytes", "lots\n");
        assertEquals(-1, CgroupMemory.headroom(self, tmp.resolve("cg")));
        assertEquals(-1, CgroupMemory.headroom(tmp.resolve("missing"), tmp.resolve("cg")));
        Path escape = write("proc/cgroup3", "4:memory:/../../etc\n");
        assertTrue(CgroupMemory.headroom(escape, tmp.resolve("cg")) >= -1, "a path out of the mount reads the mount");
    }

    @Test
    void theTighterOfTwoKnownFigures() {
        assertEquals(5, HostMemory.tighter(5, 9));
        assertEquals(5, HostMemory.tighter(9, 5));
        assertEquals(9, HostMemory.tighter(-1, 9));
        assertEquals(9, HostMemory.tighter(9, -1));
        assertEquals(-1, HostMemory.tighter(-1, -1));
    }

    @Test
    void thisMachineGivesAFigureOrUnknown() {
        long h = CgroupMemory.headroom(Path.of("/proc/self/cgroup"), Path.of("/sys/fs/cgroup"));
        assertTrue(h >= -1);
        long a = HostMemory.availableBytes();
        assertTrue(a == -1 || a > 0);
        assertTrue(HostMemory.limitName().equals("RAM available") || HostMemory.limitName().equals("the container's memory limit"));
    }
}
