package dev.skipper.runtime;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The memory limit of this process's control group (a container's {@code --memory}, a systemd
 * unit's {@code MemoryMax}), which the kernel enforces with the OOM killer long before
 * {@code MemAvailable} runs out. Headroom = the tightest limit on the way up to the root minus
 * what the group uses, not counting inactive page cache (reclaimable: the figure {@code docker
 * stats} shows). cgroup v2 ({@code memory.max}, {@code memory.current}) and v1
 * ({@code memory.limit_in_bytes}, {@code memory.usage_in_bytes}), as the kernel mounts them under
 * {@code /sys/fs/cgroup}; inside a cgroup namespace the group is the mount's root. When the
 * tightest limit is an ancestor's, its other children's use is not subtracted (it is not visible
 * from here in general), so the figure can be optimistic there; a limit on this process's own group
 * (the container case) is exact.
 */
final class CgroupMemory {
    /** A v1 "no limit" is a page-rounded 2^63-1; anything this large is no limit. */
    private static final long UNLIMITED = 1L << 60;

    private CgroupMemory() {
    }

    /**
     * @param procSelfCgroup {@code /proc/self/cgroup}
     * @param cgroupRoot where cgroups are mounted ({@code /sys/fs/cgroup})
     * @return bytes this group may still take, or -1 when no limit applies or nothing is known
     */
    static long headroom(Path procSelfCgroup, Path cgroupRoot) {
        List<String> lines;
        try {
            lines = Files.readAllLines(procSelfCgroup, StandardCharsets.US_ASCII);
        } catch (IOException | java.io.UncheckedIOException e) {
            return -1;
        }
        for (String line : lines) {
            String[] f = line.split(":", 3);
            if (f.length != 3) {
                continue;
            }
            if (f[0].equals("0") && f[1].isEmpty() && Files.isRegularFile(cgroupRoot.resolve("cgroup.controllers"))) {
                return headroom(cgroupRoot, f[2], "memory.max", "memory.current", "inactive_file");
            }
            if (List.of(f[1].split(",")).contains("memory")) {
                return headroom(cgroupRoot.resolve("memory"), f[2], "memory.limit_in_bytes", "memory.usage_in_bytes",
                        "total_inactive_file");
            }
        }
        return -1;
    }

    /** The tightest limit from the group up to the mount's root, minus the group's unreclaimable use. */
    private static long headroom(Path mount, String group, String limitFile, String usageFile, String inactiveKey) {
        Path dir = mount.resolve(group.startsWith("/") ? group.substring(1) : group).normalize();
        if (!dir.startsWith(mount) || !Files.isDirectory(dir)) {
            dir = mount; // a cgroup namespace: this process's group is what is mounted
        }
        long limit = Long.MAX_VALUE;
        Path usageDir = null;
        for (Path d = dir; d != null && d.startsWith(mount); d = d.getParent()) {
            long l = number(d.resolve(limitFile));
            if (l >= 0 && l < UNLIMITED) {
                limit = Math.min(limit, l);
            }
            if (usageDir == null && Files.isRegularFile(d.resolve(usageFile))) {
                usageDir = d;
            }
        }
        if (limit == Long.MAX_VALUE || usageDir == null) {
            return -1;
        }
        long usage = number(usageDir.resolve(usageFile));
        if (usage < 0) {
            return -1;
        }
        long inactive = Math.max(0, stat(usageDir.resolve("memory.stat"), inactiveKey));
        return Math.max(0, limit - Math.max(0, usage - inactive));
    }

    /** A file holding one number ({@code max}: no limit, -1), or -1. */
    private static long number(Path file) {
        try {
            String s = new String(Files.readAllBytes(file), StandardCharsets.US_ASCII).trim();
            return s.equals("max") ? -1 : Long.parseLong(s);
        } catch (IOException | NumberFormatException | java.io.UncheckedIOException e) {
            return -1;
        }
    }

    /** One {@code key value} line of a {@code memory.stat}, or -1. */
    private static long stat(Path file, String key) {
        try {
            for (String line : Files.readAllLines(file, StandardCharsets.US_ASCII)) {
                if (line.startsWith(key + " ")) {
                    return Long.parseLong(line.substring(key.length() + 1).trim());
                }
            }
        } catch (IOException | NumberFormatException | java.io.UncheckedIOException e) {
            return -1;
        }
        return -1;
    }
}
