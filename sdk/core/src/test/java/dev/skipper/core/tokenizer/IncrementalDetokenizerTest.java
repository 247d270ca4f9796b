package dev.skipper.core.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The streaming detokenizer's rules over a toy byte-level tokenizer: token {@code i < 256} is byte
 * {@code i}, a few more are multi-byte strings (some of them ending inside a character), 1000 is a
 * special token, and decoding is lossy UTF-8 as in Hugging Face's ByteLevel decoder.
 */
class IncrementalDetokenizerTest {
    private static final int SPECIAL = 1000;

    /** Toy tokenizer; {@code closed} makes every call fail as a closed tokenizer does. */
    static final class ByteSource implements DetokenizerSource {
        final List<byte[]> extra = new ArrayList<>();
        boolean closed;
        int decodes;

        int add(byte... bytes) {
            extra.add(bytes);
            return 256 + extra.size() - 1;
        }

        int add(String s) {
            return add(s.getBytes(StandardCharsets.UTF_8));
        }

        byte[] bytes(int id) {
            return id < 256 ? new byte[] {(byte) id} : extra.get(id - 256);
        }

        @Override
        public void ensureOpen() {
            if (closed) {
                throw new IllegalStateException("closed");
            }
        }

        @Override
        public String decode(int[] ids, int from, int to) {
            ensureOpen();
            decodes++;
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            for (int i = from; i < to; i++) {
                if (!isDropped(ids[i])) {
                    out.writeBytes(bytes(ids[i]));
                }
            }
            try {
                return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPLACE)
                        .onUnmappableCharacter(CodingErrorAction.REPLACE).decode(ByteBuffer.wrap(out.toByteArray()))
                        .toString();
            } catch (java.nio.charset.CharacterCodingException e) {
                throw new AssertionError(e);
            }
        }

        @Override
        public boolean isDropped(int id) {
            return id == SPECIAL;
        }

        @Override
        public boolean rendersText(int id) {
            return true;
        }
    }

    private static int[] utf8Ids(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[b.length];
        for (int i = 0; i < b.length; i++) {
            ids[i] = b[i] & 0xFF;
        }
        return ids;
    }

    @Test
    void printsAsciiAtOnce() {
        ByteSource src = new ByteSource();
        int hello = src.add("Hello");
        int world = src.add(" world");
        StreamingDetokenizer d = new IncrementalDetokenizer(src);
        assertEquals("Hello", d.push(hello));
        assertEquals(" world", d.push(world));
        assertEquals("!", d.push('!'));
        assertEquals("", d.flush());
    }

    @Test
    void holdsACharacterUntilItsLastByte() {
        ByteSource src = new ByteSource();
        StreamingDetokenizer d = new IncrementalDetokenizer(src);
        int[] rocket = utf8Ids("\uD83D\uDE80");
        assertEquals("", d.push(rocket[0]));
        assertEquals("", d.push(rocket[1]));
        assertEquals("", d.push(rocket[2]));
        assertEquals("\uD83D\uDE80", d.push(rocket[3]));
        int[] sun = utf8Ids("\u65E5");
        assertEquals("", d.push(sun[0]));
        assertEquals("", d.push(SPECIAL));
        assertEquals("", d.push(sun[1]));
        assertEquals("\u65E5", d.push(sun[2]));
    }

    @Test
    void printsTheWholePartOfATokenThatEndsInsideACharacter() {
        ByteSource src = new ByteSource();
        byte[] sun = "\u65E5".getBytes(StandardCharsets.UTF_8);
        int abSun = src.add((byte) 'a', (byte) 'b', sun[0]);
        int sunCd = src.add(sun[1], sun[2], (byte) 'c', (byte) 'd', sun[0], sun[1]);
        int sunEnd = src.add(sun[2]);
        StreamingDetokenizer d = new IncrementalDetokenizer(src);
        assertEquals("ab", d.push(abSun));
        assertEquals("\u65E5cd", d.push(sunCd));
        assertEquals("\u65E5", d.push(sunEnd));
    }

    @Test
    void straddlingTokensStayExact() {
        // A CJK run cut off the character boundaries (2 bytes, then 3 at a time): every token but
        // the last ends inside a character, for far longer than the window may grow.
        for (String text : List.of("\u65E5\u672C\u8A9E\u306E\u30C6\u30AD\u30B9\u30C8".repeat(10),
                "\uD83D\uDE80\u00E9\u65E5x".repeat(20))) {
            ByteSource src = new ByteSource();
            byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
            List<Integer> ids = new ArrayList<>();
            ids.add(src.add(java.util.Arrays.copyOfRange(bytes, 0, 2)));
            for (int i = 2; i < bytes.length; i += 3) {
                ids.add(src.add(java.util.Arrays.copyOfRange(bytes, i, Math.min(bytes.length, i + 3))));
            }
            int[] stream = ids.stream().mapToInt(Integer::intValue).toArray();
            StreamingChecks.Result r = StreamingChecks.stream(new IncrementalDetokenizer(src), stream, false, "straddle");
            assertEquals(text, r.text());
            assertTrue(r.maxWindow() <= IncrementalDetokenizer.MAX_PENDING + 4, "window " + r.maxWindow());
            assertTrue(r.emptyPushes() < stream.length / 2, "printed too late: " + r.emptyPushes() + " empty pushes");
        }
    }

    @Test
    void invalidBytesComeOutAsReplacementWhenTextFollows() {
        ByteSource src = new ByteSource();
        StreamingDetokenizer d = new IncrementalDetokenizer(src);
        assertEquals("", d.push(0xE6));
        assertEquals("\uFFFDx", d.push('x'));
        assertEquals("", d.push(0xF0));
        assertEquals("", d.push(0x9F));
        assertEquals("\uFFFD", d.flush());
        // flush starts over
        assertEquals("y", d.push('y'));
    }

    @Test
    void boundsTheWindowOnEndlessInvalidBytes() {
        ByteSource src = new ByteSource();
        IncrementalDetokenizer d = new IncrementalDetokenizer(src);
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < 500; i++) {
            out.append(d.push(0xE6));
            assertTrue(d.windowLength() <= IncrementalDetokenizer.MAX_PENDING, "window " + d.windowLength());
        }
        out.append(d.flush());
        assertEquals("\uFFFD".repeat(500), out.toString());
    }

    @Test
    void randomStreamsOfWholeCharactersMatchDecode() {
        ByteSource src = new ByteSource();
        List<int[]> units = new ArrayList<>();
        for (String s : List.of("a", " the", "\u00E9", "\u65E5\u672C", "\uD83D\uDC4D\uD83C\uDFFD", "\n", "\u200D")) {
            units.add(new int[] {src.add(s)});
            units.add(utf8Ids(s));
        }
        byte[] sun = "\u65E5".getBytes(StandardCharsets.UTF_8);
        units.add(new int[] {src.add((byte) 'q', sun[0]), src.add(sun[1], sun[2])});
        units.add(new int[] {SPECIAL});
        Random random = new Random(3);
        for (int round = 0; round < 500; round++) {
            List<Integer> ids = new ArrayList<>();
            for (int k = random.nextInt(15); k >= 0; k--) {
                for (int id : units.get(random.nextInt(units.size()))) {
                    ids.add(id);
                }
            }
            int[] stream = ids.stream().mapToInt(Integer::intValue).toArray();
            StreamingChecks.Result r = StreamingChecks.stream(new IncrementalDetokenizer(src), stream, false, "round " + round);
            assertEquals(src.decode(stream, 0, stream.length), r.text());
            assertTrue(r.maxWindow() <= 12, "window " + r.maxWindow());
        }
    }

    @Test
    void workPerTokenDoesNotGrowWithTheStream() {
        ByteSource src = new ByteSource();
        int word = src.add(" word");
        IncrementalDetokenizer d = new IncrementalDetokenizer(src);
        for (int i = 0; i < 10_000; i++) {
            d.push(word);
            assertTrue(d.windowLength() <= 2);
        }
        assertTrue(src.decodes <= 2 * 10_000 + 1, "decodes " + src.decodes);
    }

    @Test
    void rejectsNegativeIdsAndClosedTokenizers() {
        ByteSource src = new ByteSource();
        StreamingDetokenizer d = new IncrementalDetokenizer(src);
        assertThrows(IllegalArgumentException.class, () -> d.push(-1));
        src.closed = true;
        assertThrows(IllegalStateException.class, () -> d.push('a'));
        assertThrows(IllegalStateException.class, () -> d.push(SPECIAL));
        assertThrows(IllegalStateException.class, d::flush);
    }
}
