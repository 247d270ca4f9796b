package dev.skipper.runtime;

/** IEEE 754 half precision (binary16) to float conversion; Java 17 has no {@code Float.float16ToFloat}. */
public final class Half {
    private Half() {}

    /**
     * Widens a half-precision value exactly (subnormals, infinities and NaN included).
     *
     * @param bits the 16 bits of the half
     * @return the same value as a float
     */
    public static float toFloat(short bits) {
        int h = bits & 0xffff;
        int sign = (h & 0x8000) << 16;
        int exponent = (h >>> 10) & 0x1f;
        int mantissa = h & 0x3ff;
        if (exponent == 0x1f) { // infinity or NaN
            return Float.intBitsToFloat(sign | 0x7f800000 | (mantissa << 13));
        }
        if (exponent == 0) { // zero or subnormal: mantissa * 2^-24
            float magnitude = mantissa * 0x1p-24f;
            return sign != 0 ? -magnitude : magnitude;
        }
        return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
    }
}
