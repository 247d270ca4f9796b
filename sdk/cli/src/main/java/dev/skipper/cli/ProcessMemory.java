package dev.skipper.cli;

import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * This process's memory for the bench's {@code memory} section: resident set sizes from
 * {@code /proc/self/status} (Linux; -1 elsewhere) and the JVM's own accounts (heap, non-heap,
 * direct buffers: the KV cache and the activation buffers live there).
 */
final class ProcessMemory {
    private static final Path STATUS = Path.of("/proc/self/status");

    private ProcessMemory() {
    }

    /** @return the current resident set in bytes, or -1 */
    static long rss() {
        return dev.skipper.runtime.HostMemory.read(STATUS, "VmRSS:");
    }

    /**
     * A snapshot: peak and current resident set (anonymous and file-backed parts) and the JVM's
     * heap, non-heap and direct-buffer figures, in bytes.
     *
     * @return name -> bytes, in a fixed order
     */
    static Map<String, Object> snapshot() {
        Map<String, Object> m = new LinkedHashMap<>();
        // one read: the kernel computes the peak as at least the current figure within a read,
        // while separate reads let the resident set grow past an earlier peak
        long[] rss = dev.skipper.runtime.HostMemory.read(STATUS, "VmHWM:", "VmRSS:", "RssAnon:", "RssFile:");
        m.put("peak_rss_bytes", rss[0]);
        m.put("rss_bytes", rss[1]);
        m.put("rss_anon_bytes", rss[2]);
        m.put("rss_file_bytes", rss[3]);
        MemoryMXBean jvm = ManagementFactory.getMemoryMXBean();
        m.put("java_heap_used_bytes", jvm.getHeapMemoryUsage().getUsed());
        m.put("java_heap_committed_bytes", jvm.getHeapMemoryUsage().getCommitted());
        m.put("java_non_heap_committed_bytes", jvm.getNonHeapMemoryUsage().getCommitted());
        long direct = 0;
        for (BufferPoolMXBean b : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
            if (b.getName().equals("direct")) {
                direct = b.getMemoryUsed();
            }
        }
        m.put("java_direct_bytes", direct);
        return m;
    }
}
