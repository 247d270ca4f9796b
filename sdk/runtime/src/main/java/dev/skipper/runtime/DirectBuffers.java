package dev.skipper.runtime;

import dev.skipper.api.SkipperException;
import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Locale;

/**
 * Host memory a backend hands to its native runtime without copying: zeroed direct buffers in
 * native byte order, sized and checked before allocation.
 */
public final class DirectBuffers {
    /** {@code sun.misc.Unsafe}'s instance and its {@code invokeCleaner}, or nulls where the JDK has none (Android). */
    private static final Object UNSAFE;
    private static final Method CLEANER;

    static {
        Object unsafe = null;
        Method cleaner = null;
        try {
            Class<?> unsafeClass = Class.forName("sun.misc.Unsafe");
            Field field = unsafeClass.getDeclaredField("theUnsafe");
            field.setAccessible(true);
            unsafe = field.get(null);
            cleaner = unsafeClass.getMethod("invokeCleaner", ByteBuffer.class);
        } catch (ReflectiveOperationException | RuntimeException e) {
            unsafe = null;
            cleaner = null;
        }
        UNSAFE = unsafe;
        CLEANER = cleaner;
    }

    private DirectBuffers() {
    }

    /**
     * Returns a direct buffer's memory now instead of when the garbage collector finds it (a grown
     * KV cache would otherwise hold its old and new buffers until a collection). The caller
     * guarantees that nothing reads or writes the buffer afterwards: no view of it, no native tensor
     * over it. Where the JDK cannot free deterministically, the collector frees it as before.
     *
     * @param buffer a buffer from {@link #allocate} (not a slice or duplicate), or null
     * @return whether the memory was returned now
     */
    public static boolean free(ByteBuffer buffer) {
        if (buffer == null || !buffer.isDirect() || CLEANER == null) {
            return false;
        }
        try {
            CLEANER.invoke(UNSAFE, buffer);
            return true;
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof IllegalArgumentException) { // a slice or duplicate: not its own memory
                return false;
            }
            throw new IllegalStateException("cannot free a direct buffer: " + e.getCause(), e.getCause());
        } catch (IllegalAccessException e) {
            return false;
        }
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
