package dev.skipper.runtime;

import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HalfTest {
    @Test
    void widensNormalsSubnormalsAndSpecials() {
        assertEquals(1.0f, Half.toFloat((short) 0x3c00));
        assertEquals(-2.0f, Half.toFloat((short) 0xc000));
        assertEquals(65504.0f, Half.toFloat((short) 0x7bff));
        assertEquals(0x1p-14f, Half.toFloat((short) 0x0400));
        assertEquals(0x1p-24f, Half.toFloat((short) 0x0001));
        assertEquals(0x3ffp-24f, Half.toFloat((short) 0x03ff));
        assertEquals(0.0f, Half.toFloat((short) 0x0000));
        assertEquals(Float.floatToIntBits(-0.0f), Float.floatToIntBits(Half.toFloat((short) 0x8000)));
        assertEquals(Float.POSITIVE_INFINITY, Half.toFloat((short) 0x7c00));
        assertEquals(Float.NEGATIVE_INFINITY, Half.toFloat((short) 0xfc00));
        assertTrue(Float.isNaN(Half.toFloat((short) 0x7e00)));
        assertEquals(0.333251953125f, Half.toFloat((short) 0x3555));
    }
}
