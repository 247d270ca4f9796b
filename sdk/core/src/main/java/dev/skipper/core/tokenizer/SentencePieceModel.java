package dev.skipper.core.tokenizer;

import dev.skipper.api.SkipperException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntPredicate;

/**
 * The piece table of a SentencePiece {@code tokenizer.model} (a {@code ModelProto} protobuf), read
 * in Java, and SentencePiece's decoding (ids to text) written against it.
 *
 * <p>Why decode in Java: DJL's SentencePiece binding hands the native decoder's UTF-8 to
 * {@code NewStringUTF}, which expects the JVM's modified UTF-8, so every character outside the
 * Basic Multilingual Plane (emoji among them) comes out garbled and the text after it is cut.
 * Encoding through the binding is not affected.
 *
 * <p>The decoding rules follow SentencePiece's {@code Decode}: control pieces produce nothing;
 * the unknown piece produces the trainer's {@code unk_surface} (" ⁇ " by default); runs of byte
 * pieces ({@code <0xE6>}) are joined and read as UTF-8, each byte that does not start a valid
 * character becoming U+FFFD; U+2581 becomes a space; and the first piece of the text loses one
 * leading U+2581 when the normalizer adds a dummy prefix or removes extra whitespace (with
 * {@code remove_extra_whitespaces}, every leading U+2581 piece loses it until some text is out).
 * Models with a denormalizer ({@code denormalizer_spec.precompiled_charsmap}) are refused.
 */
final class SentencePieceModel {
    /** Piece type: an ordinary piece. */
    static final int NORMAL = 1;
    /** Piece type: the unknown piece. */
    static final int UNKNOWN = 2;
    /** Piece type: a control symbol such as {@code <s>}: no text. */
    static final int CONTROL = 3;
    /** Piece type: a user-defined symbol, matched whole when encoding. */
    static final int USER_DEFINED = 4;
    /** Piece type: unused by encoding. */
    static final int UNUSED = 5;
    /** Piece type: a byte-fallback piece {@code <0xXX>}. */
    static final int BYTE = 6;

    private static final char SPACE_SYMBOL = '\u2581';
    private static final String DEFAULT_UNK_SURFACE = " \u2047 ";

    private final String[] pieces;
    private final byte[] types;
    /** The byte of each byte piece, else -1. */
    private final short[] byteValues;
    private final boolean stripLeadingSpace;
    private final boolean removeExtraWhitespaces;
    private final String unkSurface;

    private SentencePieceModel(String[] pieces, byte[] types, short[] byteValues, boolean stripLeadingSpace,
                               boolean removeExtraWhitespaces, String unkSurface) {
        this.pieces = pieces;
        this.types = types;
        this.byteValues = byteValues;
        this.stripLeadingSpace = stripLeadingSpace;
        this.removeExtraWhitespaces = removeExtraWhitespaces;
        this.unkSurface = unkSurface;
    }

    /**
     * Reads a serialized {@code ModelProto}.
     *
     * @param data the file's bytes
     * @param file the file, for messages
     * @return the model
     * @throws SkipperException if the bytes are not a SentencePiece model Skipper can decode
     */
    static SentencePieceModel parse(byte[] data, Path file) throws SkipperException {
        List<String> pieces = new ArrayList<>();
        List<Integer> types = new ArrayList<>();
        boolean addDummyPrefix = true;
        boolean removeExtra = true;
        String unk = DEFAULT_UNK_SURFACE;
        try {
            Proto model = new Proto(data, 0, data.length);
            while (model.more()) {
                int tag = model.tag();
                int field = tag >>> 3;
                int wire = tag & 7;
                if (field == 1 && wire == 2) {
                    Proto piece = model.message();
                    String text = null;
                    int type = NORMAL;
                    while (piece.more()) {
                        int t = piece.tag();
                        if (t >>> 3 == 1 && (t & 7) == 2) {
                            text = piece.string();
                        } else if (t >>> 3 == 3 && (t & 7) == 0) {
                            type = (int) piece.varint();
                        } else {
                            piece.skip(t & 7);
                        }
                    }
                    if (text == null || text.isEmpty()) {
                        throw new SkipperException(file + ": piece " + pieces.size() + " is empty");
                    }
                    if (type < NORMAL || type > BYTE) {
                        throw new SkipperException(file + ": piece " + pieces.size() + " has unknown type " + type);
                    }
                    pieces.add(text);
                    types.add(type);
                } else if (field == 2 && wire == 2) {
                    Proto trainer = model.message();
                    while (trainer.more()) {
                        int t = trainer.tag();
                        if (t >>> 3 == 44 && (t & 7) == 2) {
                            unk = trainer.string();
                        } else {
                            trainer.skip(t & 7);
                        }
                    }
                } else if (field == 3 && wire == 2) {
                    Proto normalizer = model.message();
                    while (normalizer.more()) {
                        int t = normalizer.tag();
                        if (t >>> 3 == 3 && (t & 7) == 0) {
                            addDummyPrefix = normalizer.varint() != 0;
                        } else if (t >>> 3 == 4 && (t & 7) == 0) {
                            removeExtra = normalizer.varint() != 0;
                        } else {
                            normalizer.skip(t & 7);
                        }
                    }
                } else if (field == 5 && wire == 2) {
                    Proto denormalizer = model.message();
                    while (denormalizer.more()) {
                        int t = denormalizer.tag();
                        if (t >>> 3 == 2 && (t & 7) == 2) {
                            if (denormalizer.bytes().length > 0) {
                                throw new SkipperException(file + ": the model has a denormalizer"
                                        + " (denormalizer_spec.precompiled_charsmap), which Skipper does not support");
                            }
                        } else {
                            denormalizer.skip(t & 7);
                        }
                    }
                } else {
                    model.skip(wire);
                }
            }
        } catch (ProtoException e) {
            throw new SkipperException(file + ": not a SentencePiece model (" + e.getMessage() + ")");
        }
        if (pieces.isEmpty()) {
            throw new SkipperException(file + ": not a SentencePiece model (it has no pieces)");
        }
        int n = pieces.size();
        byte[] typeArray = new byte[n];
        short[] byteValues = new short[n];
        for (int i = 0; i < n; i++) {
            typeArray[i] = (byte) (int) types.get(i);
            byteValues[i] = -1;
            if (typeArray[i] == BYTE) {
                int b = pieceToByte(pieces.get(i));
                if (b < 0) {
                    throw new SkipperException(file + ": byte piece " + i + " is '" + printable(pieces.get(i))
                            + "', not <0xXX>");
                }
                byteValues[i] = (short) b;
            }
        }
        return new SentencePieceModel(pieces.toArray(String[]::new), typeArray, byteValues,
                addDummyPrefix || removeExtra, removeExtra, unk);
    }

    /** A piece for a one-line message: controls escaped, at most 40 characters (found by fuzzing). */
    private static String printable(String piece) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < piece.length() && b.length() < 40; i++) {
            char c = piece.charAt(i);
            b.append(Character.isISOControl(c) ? String.format("\\u%04x", (int) c) : String.valueOf(c));
        }
        return piece.length() > 40 ? b + "..." : b.toString();
    }

    private static int pieceToByte(String piece) {
        if (piece.length() != 6 || !piece.startsWith("<0x") || piece.charAt(5) != '>') {
            return -1;
        }
        int hi = Character.digit(piece.charAt(3), 16);
        int lo = Character.digit(piece.charAt(4), 16);
        return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
    }

    /**
     * Number of pieces.
     *
     * @return the vocabulary size
     */
    int size() {
        return pieces.length;
    }

    /**
     * A piece's type.
     *
     * @param id a piece id below {@link #size()}
     * @return {@link #NORMAL}, {@link #UNKNOWN}, {@link #CONTROL}, ...
     */
    int type(int id) {
        return types[id];
    }

    /**
     * A piece's text.
     *
     * @param id a piece id below {@link #size()}
     * @return the piece, such as {@code ▁the} or {@code <0xE6>}
     */
    String piece(int id) {
        return pieces[id];
    }

    /**
     * Whether the piece yields text when it is the first piece of a text: it can then serve as
     * left context for what follows (see {@link IncrementalDetokenizer}).
     *
     * @param id a piece id below {@link #size()}
     * @return false for control pieces, a lone U+2581 and an empty {@code unk_surface}
     */
    boolean rendersTextFirst(int id) {
        return switch (types[id]) {
            case CONTROL -> false;
            case BYTE -> true;
            case UNKNOWN -> !unkSurface.isEmpty();
            default -> pieces[id].length() > (pieces[id].charAt(0) == SPACE_SYMBOL ? 1 : 0);
        };
    }

    /**
     * Decodes ids as SentencePiece's {@code DecodeIds} does.
     *
     * @param ids piece ids
     * @param from first index
     * @param to end index (exclusive)
     * @param dropped ids to leave out before decoding (special tokens; ids past the vocabulary
     *     must be among them)
     * @return the text
     */
    String decode(int[] ids, int from, int to, IntPredicate dropped) {
        StringBuilder text = new StringBuilder();
        byte[] bytes = new byte[8];
        int byteCount = 0;
        boolean bosWs = true;
        boolean bosWsSeen = false;
        for (int i = from; i < to; i++) {
            int id = ids[i];
            if (dropped.test(id)) {
                continue;
            }
            int type = types[id];
            if (type == BYTE) {
                if (byteCount == bytes.length) {
                    bytes = java.util.Arrays.copyOf(bytes, byteCount * 2);
                }
                bytes[byteCount++] = (byte) byteValues[id];
                continue;
            }
            if (byteCount > 0) {
                appendUtf8(text, bytes, byteCount);
                byteCount = 0;
            }
            if (bosWsSeen || text.length() > 0) {
                bosWs = false;
            }
            if (type == CONTROL) {
                bosWsSeen = false;
            } else if (type == UNKNOWN) {
                text.append(unkSurface);
                bosWsSeen = false;
            } else {
                String piece = pieces[id];
                boolean consumed = false;
                if (bosWs && stripLeadingSpace && piece.charAt(0) == SPACE_SYMBOL) {
                    piece = piece.substring(1);
                    consumed = !removeExtraWhitespaces;
                }
                text.append(piece.replace(SPACE_SYMBOL, ' '));
                bosWsSeen = consumed;
            }
        }
        if (byteCount > 0) {
            appendUtf8(text, bytes, byteCount);
        }
        return text.toString();
    }

    /**
     * Each piece's bytes on its own: {@code ▁} as a space, a byte piece as its byte, and no bytes
     * for control, unknown and unused pieces or those {@code dropped} says decoding drops.
     *
     * @param dropped ids decoding drops (special tokens)
     * @return {@code [size]} bytes or {@code null}
     */
    byte[][] pieceBytes(java.util.function.IntPredicate dropped) {
        byte[][] out = new byte[pieces.length][];
        for (int id = 0; id < pieces.length; id++) {
            if (dropped.test(id)) {
                continue;
            }
            if (types[id] == BYTE && byteValues[id] >= 0) {
                out[id] = new byte[] {(byte) byteValues[id]};
            } else if (types[id] == NORMAL || types[id] == USER_DEFINED) {
                out[id] = pieces[id].replace(SPACE_SYMBOL, ' ').getBytes(java.nio.charset.StandardCharsets.UTF_8);
            }
        }
        return out;
    }

    /**
     * Appends bytes read as UTF-8; a byte that does not start a valid (shortest-form, non-surrogate,
     * at most U+10FFFF) sequence becomes one U+FFFD and reading resumes at the next byte.
     *
     * @param out where the text goes
     * @param b the bytes
     * @param n how many of them
     */
    static void appendUtf8(StringBuilder out, byte[] b, int n) {
        int i = 0;
        while (i < n) {
            int b0 = b[i] & 0xFF;
            int left = n - i;
            int cp = -1;
            int len = 1;
            if (b0 < 0x80) {
                cp = b0;
            } else if ((b0 & 0xE0) == 0xC0) {
                if (left >= 2 && trail(b[i + 1])) {
                    int c = (b0 & 0x1F) << 6 | (b[i + 1] & 0x3F);
                    if (c >= 0x80) {
                        cp = c;
                        len = 2;
                    }
                }
            } else if ((b0 & 0xF0) == 0xE0) {
                if (left >= 3 && trail(b[i + 1]) && trail(b[i + 2])) {
                    int c = (b0 & 0x0F) << 12 | (b[i + 1] & 0x3F) << 6 | (b[i + 2] & 0x3F);
                    if (c >= 0x800 && (c < 0xD800 || c > 0xDFFF)) {
                        cp = c;
                        len = 3;
                    }
                }
            } else if ((b0 & 0xF8) == 0xF0) {
                if (left >= 4 && trail(b[i + 1]) && trail(b[i + 2]) && trail(b[i + 3])) {
                    int c = (b0 & 0x07) << 18 | (b[i + 1] & 0x3F) << 12 | (b[i + 2] & 0x3F) << 6 | (b[i + 3] & 0x3F);
                    if (c >= 0x10000 && c <= 0x10FFFF) {
                        cp = c;
                        len = 4;
                    }
                }
            }
            if (cp < 0) {
                out.append('\uFFFD');
                i++;
            } else {
                out.appendCodePoint(cp);
                i += len;
            }
        }
    }

    private static boolean trail(byte b) {
        return (b & 0xC0) == 0x80;
    }

    /** A malformed protobuf. */
    private static final class ProtoException extends Exception {
        private static final long serialVersionUID = 1L;

        ProtoException(String message) {
            super(message);
        }
    }

    /** Reads protobuf wire format from a slice of a byte array. */
    private static final class Proto {
        private final byte[] data;
        private int pos;
        private final int end;

        Proto(byte[] data, int pos, int end) {
            this.data = data;
            this.pos = pos;
            this.end = end;
        }

        boolean more() {
            return pos < end;
        }

        int tag() throws ProtoException {
            long tag = varint();
            if (tag <= 0 || tag > Integer.MAX_VALUE) {
                throw new ProtoException("bad field tag at byte " + pos);
            }
            return (int) tag;
        }

        long varint() throws ProtoException {
            long value = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                if (pos >= end) {
                    throw new ProtoException("truncated at byte " + pos);
                }
                int b = data[pos++] & 0xFF;
                value |= (long) (b & 0x7F) << shift;
                if (b < 0x80) {
                    return value;
                }
            }
            throw new ProtoException("varint too long at byte " + pos);
        }

        private int length() throws ProtoException {
            long len = varint();
            if (len < 0 || len > end - pos) {
                throw new ProtoException("length " + len + " runs past the end at byte " + pos);
            }
            return (int) len;
        }

        Proto message() throws ProtoException {
            int len = length();
            Proto sub = new Proto(data, pos, pos + len);
            pos += len;
            return sub;
        }

        byte[] bytes() throws ProtoException {
            int len = length();
            byte[] out = java.util.Arrays.copyOfRange(data, pos, pos + len);
            pos += len;
            return out;
        }

        String string() throws ProtoException {
            int len = length();
            try {
                String s = StandardCharsets.UTF_8.newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                        .decode(ByteBuffer.wrap(data, pos, len))
                        .toString();
                pos += len;
                return s;
            } catch (CharacterCodingException e) {
                throw new ProtoException("a string that is not UTF-8 at byte " + pos);
            }
        }

        void skip(int wire) throws ProtoException {
            switch (wire) {
                case 0 -> varint();
                case 1 -> advance(8);
                case 2 -> advance(length());
                case 5 -> advance(4);
                default -> throw new ProtoException("unsupported wire type " + wire + " at byte " + pos);
            }
        }

        private void advance(int n) throws ProtoException {
            if (n > end - pos) {
                throw new ProtoException("truncated at byte " + pos);
            }
            pos += n;
        }
    }
}
