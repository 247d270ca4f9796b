package dev.skipper.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import org.junit.jupiter.api.Test;

/** Both forms of the absolute copies (the JDK's bulk methods and Android's element loop) agree. */
class BufferCopyTest {
    @Test
    void thisJdkHasTheBulkMethods() {
        assertTrue(BufferCopy.ABSOLUTE_BULK, "every JDK 17 has them; false would mean the slow path on desktops");
    }

    @Test
    void floatCopiesAgreeAndLeaveThePositionAlone() {
        FloatBuffer src = ByteBuffer.allocateDirect(4 * 100).order(ByteOrder.nativeOrder()).asFloatBuffer();
        for (int i = 0; i < 100; i++) {
            src.put(i, i * 0.5f - 7);
        }
        src.position(13);
        float[] bulk = new float[40];
        float[] each = new float[40];
        BufferCopy.get(src, 55, bulk, 3, 30);
        BufferCopy.getEach(src, 55, each, 3, 30);
        assertArrayEquals(bulk, each);
        assertEquals(55 * 0.5f - 7, each[3]);
        assertEquals(0f, each[2]);
        assertEquals(13, src.position());
        assertThrows(IndexOutOfBoundsException.class, () -> BufferCopy.getEach(src, 90, each, 0, 20));
        assertThrows(IndexOutOfBoundsException.class, () -> BufferCopy.getEach(src, 0, each, 30, 20));
    }

    @Test
    void byteCopiesAgreeAndLeaveThePositionsAlone() {
        ByteBuffer src = ByteBuffer.allocateDirect(64);
        for (int i = 0; i < 64; i++) {
            src.put(i, (byte) (i * 3));
        }
        ByteBuffer a = ByteBuffer.allocateDirect(64);
        ByteBuffer b = ByteBuffer.allocateDirect(64);
        src.position(5);
        BufferCopy.put(a, 10, src, 20, 30);
        BufferCopy.putEach(b, 10, src, 20, 30);
        assertEquals(a, b);
        assertEquals((byte) 60, b.get(10));
        assertEquals(0, b.get(9));
        assertEquals(5, src.position());
        assertEquals(0, b.position());
        assertThrows(IndexOutOfBoundsException.class, () -> BufferCopy.putEach(b, 50, src, 0, 20));
    }
}
