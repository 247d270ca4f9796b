package dev.skipper.runtime;

import dev.skipper.api.SkipperException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Locale;

/**
 * Host memory a backend hands to its native runtime without copying: zeroed direct buffers in
 * native byte order, sized and checked before allocation.
 */
public final class DirectBuffers {
    private DirectBuffers() {
    }

    /**
     * Allocates a zeroed direct buffer in native byte order.
     *
     * @param bytes size in bytes (checked to fit one buffer)
     * @param what what it is for, for the error message
     * @return the buffer
     * @throws SkipperException if it is too large for one buffer or direct memory is exhausted
     */
    public static ByteBuffer allocate(long bytes, String what) throws SkipperException {
        if (bytes < 0 || bytes > Integer.MAX_VALUE) {
            throw new SkipperException(what + " needs " + bytes + " bytes, more than one buffer can hold ("
                    + Integer.MAX_VALUE + ")");
        }
        try {
            return ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder());
        } catch (OutOfMemoryError e) {
            throw new SkipperException("cannot allocate " + mib(bytes) + " for " + what
                    + ": direct memory exhausted (see -XX:MaxDirectMemorySize)", e);
        }
    }

    /**
     * Formats a byte count for messages.
     *
     * @param bytes bytes
     * @return for example {@code 94.4 MiB}
     */
    public static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.1f MiB", bytes / (1024.0 * 1024.0));
    }
}
