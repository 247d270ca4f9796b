package dev.skipper.runtime;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The host's memory as the kernel reports it ({@code /proc/meminfo} on Linux, and this process's
 * control-group limit where one is set: {@link CgroupMemory}): what the cpu backend's
 * {@link MemoryPreflight} checks against. Elsewhere it is unknown and nothing is checked.
 */
public final class HostMemory {
    private static final Path MEMINFO = Path.of("/proc/meminfo");
    private static final Path PROC_SELF_CGROUP = Path.of("/proc/self/cgroup");
    private static final Path CGROUP_ROOT = Path.of("/sys/fs/cgroup");

    private HostMemory() {
    }

    /**
     * @return bytes a new allocation can get without swapping ({@code MemAvailable}: free memory
     *     plus reclaimable caches) or being killed by its control group's limit, whichever is less,
     *     or -1 when unknown
     */
    public static long availableBytes() {
        Long pretend = Long.getLong(PRETEND_PROPERTY); // capacity planning and tests: "as if this much were free"
        if (pretend != null && pretend >= 0) {
            return pretend;
        }
        return tighter(read(MEMINFO, "MemAvailable:"), CgroupMemory.headroom(PROC_SELF_CGROUP, CGROUP_ROOT));
    }

    /**
     * @return what limits {@link #availableBytes}, for messages: "RAM available" or "the container's
     *     memory limit" (a control group's)
     */
    public static String limitName() {
        Long pretend = Long.getLong(PRETEND_PROPERTY);
        if (pretend != null && pretend >= 0) {
            return "RAM available";
        }
        long host = read(MEMINFO, "MemAvailable:");
        long group = CgroupMemory.headroom(PROC_SELF_CGROUP, CGROUP_ROOT);
        return group >= 0 && (host < 0 || group < host) ? "the container's memory limit" : "RAM available";
    }

    /** The smaller of two figures where -1 means unknown. */
    static long tighter(long a, long b) {
        return a < 0 ? b : b < 0 ? a : Math.min(a, b);
    }

    /** System property that replaces the kernel's figure (bytes), to plan for a smaller device or test the refusal. */
    public static final String PRETEND_PROPERTY = "skipper.availableMemoryBytes";

    /**
     * @param meminfo a file in {@code /proc/meminfo}'s format
     * @param key the field, with its colon
     * @return its value in bytes, or -1 when the file or the field is missing or malformed
     */
    public static long read(Path meminfo, String key) {
        return read(meminfo, new String[] {key})[0];
    }

    /**
     * Several fields from one read of the file, so that related figures (a peak and the current
     * value) come from the same instant.
     *
     * @param meminfo a file in {@code /proc/meminfo}'s format
     * @param keys the fields, each with its colon
     * @return their values in bytes, in the order of {@code keys}, -1 where missing or malformed
     */
    public static long[] read(Path meminfo, String... keys) {
        long[] values = new long[keys.length];
        java.util.Arrays.fill(values, -1);
        java.util.List<String> lines;
        try {
            lines = Files.readAllLines(meminfo, StandardCharsets.US_ASCII);
        } catch (IOException | java.io.UncheckedIOException e) {
            return values;
        }
        for (int k = 0; k < keys.length; k++) {
            values[k] = field(lines, keys[k]);
        }
        return values;
    }

    private static long field(java.util.List<String> lines, String key) {
        for (String line : lines) {
            if (line.startsWith(key)) {
                try {
                    String[] parts = line.substring(key.length()).trim().split("\\s+");
                    long kb = Long.parseLong(parts[0]);
                    boolean inKb = parts.length > 1 && parts[1].equals("kB");
                    return kb < 0 || kb > Long.MAX_VALUE / 1024 ? -1 : inKb ? kb * 1024 : kb;
                } catch (NumberFormatException e) {
                    return -1;
                }
            }
        }
        return -1;
    }
}
