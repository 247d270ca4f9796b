package dev.skipper.runtime;

import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import org.codehaus.mojo.animal_sniffer.IgnoreJRERequirement;

/**
 * Absolute bulk copies between NIO buffers and arrays, which leave the buffers' positions alone.
 * Java 13/16 have them as methods ({@code FloatBuffer.get(int, float[], int, int)},
 * {@code ByteBuffer.put(int, ByteBuffer, int, int)}); Android (API 34) does not, so there the
 * copies run element by element instead (no allocation either way). The choice is made once.
 */
public final class BufferCopy {
    /** Whether this runtime has the absolute bulk methods (every JDK this SDK runs on; not Android). */
    static final boolean ABSOLUTE_BULK = hasAbsoluteBulk();

    private BufferCopy() {
    }

    private static boolean hasAbsoluteBulk() {
        try {
            FloatBuffer.class.getMethod("get", int.class, float[].class, int.class, int.class);
            ByteBuffer.class.getMethod("put", int.class, ByteBuffer.class, int.class, int.class);
            return true;
        } catch (NoSuchMethodException e) {
            return false;
        }
    }

    /**
     * {@code dst[off .. off+len) = src[index .. index+len)}.
     *
     * @param src the buffer
     * @param index its first element
     * @param dst the array
     * @param off the array's first element
     * @param len elements
     */
    @IgnoreJRERequirement // only called where ABSOLUTE_BULK says the method exists
    public static void get(FloatBuffer src, int index, float[] dst, int off, int len) {
        if (ABSOLUTE_BULK) {
            src.get(index, dst, off, len);
        } else {
            getEach(src, index, dst, off, len);
        }
    }

    /** The element-by-element form of {@link #get} (Android). */
    static void getEach(FloatBuffer src, int index, float[] dst, int off, int len) {
        java.util.Objects.checkFromIndexSize(index, len, src.limit());
        java.util.Objects.checkFromIndexSize(off, len, dst.length);
        for (int i = 0; i < len; i++) {
            dst[off + i] = src.get(index + i);
        }
    }

    /**
     * {@code dst[index .. index+len) = src[srcIndex .. srcIndex+len)}.
     *
     * @param dst the buffer written
     * @param index its first byte
     * @param src the buffer read
     * @param srcIndex its first byte
     * @param len bytes
     */
    @IgnoreJRERequirement // only called where ABSOLUTE_BULK says the method exists
    public static void put(ByteBuffer dst, int index, ByteBuffer src, int srcIndex, int len) {
        if (ABSOLUTE_BULK) {
            dst.put(index, src, srcIndex, len);
        } else {
            putEach(dst, index, src, srcIndex, len);
        }
    }

    /** The byte-by-byte form of {@link #put} (Android). */
    static void putEach(ByteBuffer dst, int index, ByteBuffer src, int srcIndex, int len) {
        java.util.Objects.checkFromIndexSize(index, len, dst.limit());
        java.util.Objects.checkFromIndexSize(srcIndex, len, src.limit());
        for (int i = 0; i < len; i++) {
            dst.put(index + i, src.get(srcIndex + i));
        }
    }
}
