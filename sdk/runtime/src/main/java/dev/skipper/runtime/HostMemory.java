package dev.skipper.runtime;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The host's memory as the kernel reports it ({@code /proc/meminfo} on Linux): what the cpu
 * backend's {@link MemoryPreflight} checks against. Elsewhere it is unknown and nothing is checked.
 */
public final class HostMemory {
    private static final Path MEMINFO = Path.of("/proc/meminfo");

    private HostMemory() {
    }

    /**
     * @return bytes a new allocation can get without swapping ({@code MemAvailable}: free memory
     *     plus reclaimable caches), or -1 when unknown
     */
    public static long availableBytes() {
        Long pretend = Long.getLong(PRETEND_PROPERTY); // capacity planning and tests: "as if this much were free"
        return pretend != null && pretend >= 0 ? pretend : read(MEMINFO, "MemAvailable:");
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
