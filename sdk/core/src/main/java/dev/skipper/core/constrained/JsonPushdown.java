package dev.skipper.core.constrained;

/**
 * Any JSON object (OpenAI's {@code json_object} mode), nested up to {@link #MAX_DEPTH} levels: a
 * pushdown recognizer whose stack of open containers lives in the configuration's bits, so token
 * masks are computed over it exactly as over a {@link ByteDfa} (a regular automaton for free-form
 * JSON would need a state per combination of open containers). Its lexis is the schema compiler's:
 * strings of valid UTF-8 or escapes, numbers of at most 19 integer, 17 fraction and 3 exponent
 * digits, and at most one space between two tokens (so a model cannot pad forever).
 */
public final class JsonPushdown implements ByteAutomaton {
    /** Most containers open at once; a deeper one is not allowed to start. */
    public static final int MAX_DEPTH = 32;
    /** The one instance (it holds no state). */
    public static final JsonPushdown OBJECT = new JsonPushdown();

    // Configuration bits: [lex:8 @48][counter:8 @40][height:6 @32][stack:32 @0], stack bit i set when
    // the container at level i + 1 is an array.
    private static final int START = 0;
    private static final int OBJ_OPEN = 1;       // after '{': a key or '}'
    private static final int AFTER_KEY = 3;      // ':'
    private static final int AFTER_COLON = 5;    // a value
    private static final int AFTER_VALUE = 7;    // ',' or the close of the open container
    private static final int COMMA_OBJ = 9;      // a key
    private static final int ARR_OPEN = 11;      // after '[': a value or ']'
    private static final int COMMA_ARR = 13;     // a value
    private static final int DONE = 15;
    // Each of the structural states above has a twin one higher: the same after one space.
    private static final int NUM_MINUS = 16;
    private static final int NUM_ZERO = 17;
    private static final int NUM_INT = 18;       // counter: digits so far
    private static final int NUM_DOT = 19;
    private static final int NUM_FRAC = 20;      // counter: digits so far
    private static final int NUM_E = 21;
    private static final int NUM_ESIGN = 22;
    private static final int NUM_EXP = 23;       // counter: digits so far
    private static final int LITERAL = 24;       // counter: which << 4 | bytes matched
    private static final int KEY_STRING = 32;    // + a string sub-state
    private static final int VALUE_STRING = 48;  // + a string sub-state
    // String sub-states.
    private static final int STR = 0;
    private static final int ESCAPE = 1;
    private static final int HEX = 2;            // counter: hex digits left
    private static final int CONT = 3;           // counter: UTF-8 continuation bytes left
    private static final int AFTER_E0 = 4;       // next byte A0..BF
    private static final int AFTER_ED = 5;       // next byte 80..9F
    private static final int AFTER_F0 = 6;       // next byte 90..BF
    private static final int AFTER_F4 = 7;       // next byte 80..8F

    private static final byte[][] LITERALS = {"true".getBytes(), "false".getBytes(), "null".getBytes()};

    private JsonPushdown() {
    }

    private static long config(int lex, int counter, int height, long stack) {
        return (long) lex << 48 | (long) counter << 40 | (long) height << 32 | (stack & 0xffffffffL);
    }

    private static int lex(long c) {
        return (int) (c >>> 48) & 0xff;
    }

    private static int counter(long c) {
        return (int) (c >>> 40) & 0xff;
    }

    private static int height(long c) {
        return (int) (c >>> 32) & 0x3f;
    }

    @Override
    public long start() {
        return config(START, 0, 0, 0);
    }

    @Override
    public boolean accepting(long config) {
        return lex(config) == DONE;
    }

    @Override
    public boolean closed(long config) {
        return lex(config) == DONE;
    }

    @Override
    public long next(long c, int b) {
        int lex = lex(c);
        int height = height(c);
        long stack = c & 0xffffffffL;
        if (lex >= KEY_STRING) {
            return string(lex >= VALUE_STRING, lex & 15, counter(c), height, stack, b);
        }
        switch (lex) {
            case START:
                return b == '{' ? open(false, height, stack) : DEAD;
            case OBJ_OPEN:
            case OBJ_OPEN + 1:
                if (b == ' ' && lex == OBJ_OPEN) {
                    return config(OBJ_OPEN + 1, 0, height, stack);
                }
                return b == '"' ? config(KEY_STRING + STR, 0, height, stack) : b == '}' ? close(height, stack) : DEAD;
            case AFTER_KEY:
            case AFTER_KEY + 1:
                if (b == ' ' && lex == AFTER_KEY) {
                    return config(AFTER_KEY + 1, 0, height, stack);
                }
                return b == ':' ? config(AFTER_COLON, 0, height, stack) : DEAD;
            case AFTER_COLON:
            case AFTER_COLON + 1:
            case COMMA_ARR:
            case COMMA_ARR + 1:
                if (b == ' ' && (lex == AFTER_COLON || lex == COMMA_ARR)) {
                    return config(lex + 1, 0, height, stack);
                }
                return value(height, stack, b);
            case AFTER_VALUE:
            case AFTER_VALUE + 1:
                return afterValue(lex == AFTER_VALUE, height, stack, b);
            case COMMA_OBJ:
            case COMMA_OBJ + 1:
                if (b == ' ' && lex == COMMA_OBJ) {
                    return config(COMMA_OBJ + 1, 0, height, stack);
                }
                return b == '"' ? config(KEY_STRING + STR, 0, height, stack) : DEAD;
            case ARR_OPEN:
            case ARR_OPEN + 1:
                if (b == ' ' && lex == ARR_OPEN) {
                    return config(ARR_OPEN + 1, 0, height, stack);
                }
                return b == ']' ? close(height, stack) : value(height, stack, b);
            case NUM_MINUS:
                return b == '0' ? config(NUM_ZERO, 0, height, stack)
                        : b >= '1' && b <= '9' ? config(NUM_INT, 1, height, stack) : DEAD;
            case NUM_ZERO:
            case NUM_INT:
            case NUM_FRAC: {
                int n = counter(c);
                if (b >= '0' && b <= '9' && lex != NUM_ZERO) {
                    return n < (lex == NUM_INT ? 19 : 17) ? config(lex, n + 1, height, stack) : DEAD;
                }
                if (b == '.' && lex != NUM_FRAC) {
                    return config(NUM_DOT, 0, height, stack);
                }
                if (b == 'e' || b == 'E') {
                    return config(NUM_E, 0, height, stack);
                }
                return afterValue(true, height, stack, b);
            }
            case NUM_DOT:
                return b >= '0' && b <= '9' ? config(NUM_FRAC, 1, height, stack) : DEAD;
            case NUM_E:
                if (b == '+' || b == '-') {
                    return config(NUM_ESIGN, 0, height, stack);
                }
                return b >= '0' && b <= '9' ? config(NUM_EXP, 1, height, stack) : DEAD;
            case NUM_ESIGN:
                return b >= '0' && b <= '9' ? config(NUM_EXP, 1, height, stack) : DEAD;
            case NUM_EXP: {
                int n = counter(c);
                if (b >= '0' && b <= '9') {
                    return n < 3 ? config(NUM_EXP, n + 1, height, stack) : DEAD;
                }
                return afterValue(true, height, stack, b);
            }
            case LITERAL: {
                int which = counter(c) >> 4;
                int pos = counter(c) & 15;
                byte[] lit = LITERALS[which];
                if (b != lit[pos]) {
                    return DEAD;
                }
                return pos + 1 == lit.length ? config(AFTER_VALUE, 0, height, stack)
                        : config(LITERAL, which << 4 | (pos + 1), height, stack);
            }
            default:
                return DEAD;
        }
    }

    /** The first byte of a value. */
    private static long value(int height, long stack, int b) {
        switch (b) {
            case '"':
                return config(VALUE_STRING + STR, 0, height, stack);
            case '{':
                return open(false, height, stack);
            case '[':
                return open(true, height, stack);
            case '-':
                return config(NUM_MINUS, 0, height, stack);
            case '0':
                return config(NUM_ZERO, 0, height, stack);
            case 't':
                return config(LITERAL, 0 << 4 | 1, height, stack);
            case 'f':
                return config(LITERAL, 1 << 4 | 1, height, stack);
            case 'n':
                return config(LITERAL, 2 << 4 | 1, height, stack);
            default:
                return b >= '1' && b <= '9' ? config(NUM_INT, 1, height, stack) : DEAD;
        }
    }

    /** After a value inside the open container: a space (if none came yet), ',' or its close. */
    private static long afterValue(boolean spaceAllowed, int height, long stack, int b) {
        boolean array = (stack >>> (height - 1) & 1) != 0;
        if (b == ' ' && spaceAllowed) {
            return config(AFTER_VALUE + 1, 0, height, stack);
        }
        if (b == ',') {
            return config(array ? COMMA_ARR : COMMA_OBJ, 0, height, stack);
        }
        return b == (array ? ']' : '}') ? close(height, stack) : DEAD;
    }

    private static long open(boolean array, int height, long stack) {
        if (height >= MAX_DEPTH) {
            return DEAD;
        }
        long s = array ? stack | 1L << height : stack & ~(1L << height);
        return config(array ? ARR_OPEN : OBJ_OPEN, 0, height + 1, s);
    }

    private static long close(int height, long stack) {
        long s = stack & ~(1L << (height - 1));
        return height == 1 ? config(DONE, 0, 0, 0) : config(AFTER_VALUE, 0, height - 1, s);
    }

    private static long string(boolean value, int sub, int n, int height, long stack, int b) {
        int base = value ? VALUE_STRING : KEY_STRING;
        switch (sub) {
            case STR:
                if (b == '"') {
                    return config(value ? AFTER_VALUE : AFTER_KEY, 0, height, stack);
                }
                if (b == '\\') {
                    return config(base + ESCAPE, 0, height, stack);
                }
                if (b >= 0x20 && b <= 0x7f) {
                    return config(base + STR, 0, height, stack);
                }
                if (b >= 0xc2 && b <= 0xdf) {
                    return config(base + CONT, 1, height, stack);
                }
                if (b == 0xe0) {
                    return config(base + AFTER_E0, 0, height, stack);
                }
                if (b == 0xed) {
                    return config(base + AFTER_ED, 0, height, stack);
                }
                if (b >= 0xe1 && b <= 0xef) {
                    return config(base + CONT, 2, height, stack);
                }
                if (b == 0xf0) {
                    return config(base + AFTER_F0, 0, height, stack);
                }
                if (b >= 0xf1 && b <= 0xf3) {
                    return config(base + CONT, 3, height, stack);
                }
                return b == 0xf4 ? config(base + AFTER_F4, 0, height, stack) : DEAD;
            case ESCAPE:
                if (b == 'u') {
                    return config(base + HEX, 4, height, stack);
                }
                return "\"\\/bfnrt".indexOf(b) >= 0 ? config(base + STR, 0, height, stack) : DEAD;
            case HEX:
                if (b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F') {
                    return n == 1 ? config(base + STR, 0, height, stack) : config(base + HEX, n - 1, height, stack);
                }
                return DEAD;
            case CONT:
                if (b >= 0x80 && b <= 0xbf) {
                    return n == 1 ? config(base + STR, 0, height, stack) : config(base + CONT, n - 1, height, stack);
                }
                return DEAD;
            case AFTER_E0:
                return b >= 0xa0 && b <= 0xbf ? config(base + CONT, 1, height, stack) : DEAD;
            case AFTER_ED:
                return b >= 0x80 && b <= 0x9f ? config(base + CONT, 1, height, stack) : DEAD;
            case AFTER_F0:
                return b >= 0x90 && b <= 0xbf ? config(base + CONT, 2, height, stack) : DEAD;
            case AFTER_F4:
                return b >= 0x80 && b <= 0x8f ? config(base + CONT, 2, height, stack) : DEAD;
            default:
                return DEAD;
        }
    }
}
