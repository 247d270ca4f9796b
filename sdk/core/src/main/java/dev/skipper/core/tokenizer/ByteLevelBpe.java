package dev.skipper.core.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Byte-level BPE encoding in Java, as Hugging Face {@code tokenizers} encodes a {@code tokenizer.json}
 * of the GPT-2 family (no normalizer; pre-tokenizer {@code ByteLevel} with its regex, optionally
 * after {@code Digits}; model {@code BPE} without dropout, unknown token or word affixes; added
 * tokens matched as written). {@link HfTokenizer} uses it instead of the native library when a file
 * is in that subset: it needs ~10 MB of heap where the native tokenizer takes ~45 MB (SmolLM2), and
 * it runs where the native library does not (Android). Equality with the native encoder is tested
 * on real text ({@code ByteLevelBpeTest}). Thread-safe.
 */
final class ByteLevelBpe {
    /** GPT-2's split, as the {@code ByteLevel} pre-tokenizer applies it ({@code \s} is Unicode's White_Space). */
    private static final Pattern SPLIT = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
            Pattern.UNICODE_CHARACTER_CLASS);
    /** Words kept with their ids (Hugging Face keeps 10,000 too). */
    static final int CACHE_WORDS = 10_000;
    /** Longest word kept (Hugging Face keeps words under 256 bytes). */
    static final int CACHE_MAX_CHARS = 256;

    private final int[] byteId;                // [256] the id of each byte's single-character piece
    // Merge rules by pair, open addressing: keys (left id << 32 | right id) + 1 (0: empty), values
    // (rank << 32 | merged id). ~2 MB for SmolLM2's 48,900 rules (a HashMap of boxed longs: ~5 MB).
    private final long[] mergeKeys;
    private final long[] mergeValues;
    private final String[] addedContent;       // added tokens, longest first
    private final int[] addedIds;              // their ids
    private final boolean individualDigits;    // Digits(individual_digits) runs before ByteLevel
    private final Map<String, int[]> cache = new LinkedHashMap<>(256, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, int[]> eldest) {
            return size() > CACHE_WORDS;
        }
    };

    /**
     * @param vocab the model's vocabulary (byte-level pieces to ids)
     * @param merges the merge rules in rank order, each two pieces
     * @param added the added tokens (content to id), matched in the text before anything else
     * @param individualDigits whether each digit is its own word first
     * @throws IllegalArgumentException when a merge names a piece the vocabulary lacks
     */
    ByteLevelBpe(Map<String, Integer> vocab, List<String[]> merges, Map<String, Integer> added, boolean individualDigits) {
        int slots = Integer.highestOneBit(Math.max(16, merges.size() * 2)) << 1;
        this.mergeKeys = new long[slots];
        this.mergeValues = new long[slots];
        for (int rank = 0; rank < merges.size(); rank++) {
            String[] m = merges.get(rank);
            Integer a = vocab.get(m[0]);
            Integer b = vocab.get(m[1]);
            Integer ab = vocab.get(m[0] + m[1]);
            if (a == null || b == null || ab == null) {
                throw new IllegalArgumentException("merge " + rank + " (" + m[0] + " " + m[1] + ") names a piece the "
                        + "vocabulary lacks");
            }
            putIfAbsent(((long) a << 32) | (b & 0xffffffffL), ((long) rank << 32) | (ab & 0xffffffffL));
        }
        List<Map.Entry<String, Integer>> sorted = new ArrayList<>(added.entrySet());
        sorted.removeIf(e -> e.getKey().isEmpty());
        sorted.sort((x, y) -> Integer.compare(y.getKey().length(), x.getKey().length()));
        this.addedContent = sorted.stream().map(Map.Entry::getKey).toArray(String[]::new);
        this.addedIds = sorted.stream().mapToInt(Map.Entry::getValue).toArray();
        this.individualDigits = individualDigits;
        int[] toByte = ByteLevelTable.charToByte();
        this.byteId = new int[256];
        java.util.Arrays.fill(byteId, -1);
        for (int c = 0; c < toByte.length; c++) {
            if (toByte[c] >= 0) {
                Integer id = vocab.get(String.valueOf((char) c));
                // -1: a byte the vocabulary lacks (SmolLM2's lacks some that UTF-8 never uses): dropped, as
                // Hugging Face drops a symbol it has no id for when there is no unknown token
                byteId[toByte[c]] = id == null ? -1 : id;
            }
        }
    }

    private void putIfAbsent(long key, long value) {
        int mask = mergeKeys.length - 1;
        int h = slot(key, mask);
        while (mergeKeys[h] != 0) {
            if (mergeKeys[h] == key + 1) {
                mergeValues[h] = value; // a duplicate rule: the last one stands, as in Hugging Face's map
                return;
            }
            h = (h + 1) & mask;
        }
        mergeKeys[h] = key + 1;
        mergeValues[h] = value;
    }

    /** @return (rank << 32 | merged id), or Long.MAX_VALUE when no rule merges the pair */
    private long merge(long key) {
        int mask = mergeKeys.length - 1;
        int h = slot(key, mask);
        long k;
        while ((k = mergeKeys[h]) != 0) {
            if (k == key + 1) {
                return mergeValues[h];
            }
            h = (h + 1) & mask;
        }
        return Long.MAX_VALUE;
    }

    private static int slot(long key, int mask) {
        long x = key * 0x9E3779B97F4A7C15L;
        return (int) (x ^ (x >>> 32)) & mask;
    }

    /**
     * @param text any text
     * @return its ids (no BOS: the caller adds it per the manifest)
     */
    int[] encode(String text) {
        IntList out = new IntList(Math.max(16, text.length() / 3));
        int start = 0;
        int i = 0;
        while (i < text.length()) {
            int which = addedAt(text, i);
            if (which < 0) {
                i++;
                continue;
            }
            segment(text.substring(start, i), out);
            out.add(addedIds[which]);
            i += addedContent[which].length();
            start = i;
        }
        segment(text.substring(start), out);
        return out.toArray();
    }

    /** The longest added token at {@code i}, or -1 (leftmost-longest, as Hugging Face matches them). */
    private int addedAt(String text, int i) {
        for (int k = 0; k < addedContent.length; k++) {
            if (text.startsWith(addedContent[k], i)) {
                return k;
            }
        }
        return -1;
    }

    /** Text between added tokens: digits split off, then GPT-2's regex, then BPE per word. */
    private void segment(String s, IntList out) {
        if (s.isEmpty()) {
            return;
        }
        if (!individualDigits) {
            words(s, out);
            return;
        }
        int from = 0;
        int i = 0;
        while (i < s.length()) {
            int cp = s.codePointAt(i);
            int n = Character.charCount(cp);
            if (numeric(cp)) {
                words(s.substring(from, i), out);
                words(s.substring(i, i + n), out);
                from = i + n;
            }
            i += n;
        }
        words(s.substring(from), out);
    }

    /** Rust's {@code char::is_numeric}: general categories Nd, Nl and No. */
    private static boolean numeric(int cp) {
        int t = Character.getType(cp);
        return t == Character.DECIMAL_DIGIT_NUMBER || t == Character.LETTER_NUMBER || t == Character.OTHER_NUMBER;
    }

    private void words(String s, IntList out) {
        if (s.isEmpty()) {
            return;
        }
        Matcher m = SPLIT.matcher(s);
        while (m.find()) {
            word(s.substring(m.start(), m.end()), out);
        }
    }

    private void word(String w, IntList out) {
        int[] ids;
        boolean cacheable = w.length() < CACHE_MAX_CHARS; // as Hugging Face: long words are not kept
        synchronized (cache) {
            ids = cacheable ? cache.get(w) : null;
        }
        if (ids == null) {
            ids = bpe(w);
            if (cacheable) {
                synchronized (cache) {
                    cache.put(w, ids);
                }
            }
        }
        for (int id : ids) {
            out.add(id);
        }
    }

    /**
     * One word: its UTF-8 bytes as byte-level symbols, merged by rank until no rule applies. The
     * lowest rank merges first, the leftmost of equal ones first (Hugging Face's order), through a
     * heap of candidate pairs over a linked list of symbols: O(n log n), so a long word without
     * spaces (a base64 blob) costs what its length says, not its square.
     */
    private int[] bpe(String w) {
        byte[] bytes = w.getBytes(StandardCharsets.UTF_8);
        int[] id = new int[bytes.length];
        int n = 0;
        for (byte value : bytes) {
            int b = byteId[value & 0xff];
            if (b >= 0) { // a byte without a symbol is dropped
                id[n++] = b;
            }
        }
        int[] next = new int[n];  // the next live symbol, -1 at the end
        int[] prev = new int[n];  // the previous live symbol, -1 at the start
        for (int i = 0; i < n; i++) {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
        }
        LongHeap heap = new LongHeap(Math.max(4, n));
        for (int i = 0; i + 1 < n; i++) {
            push(heap, id, i, i + 1);
        }
        int live = n;
        while (!heap.isEmpty()) {
            long top = heap.pop();
            int pos = (int) top;
            int rank = (int) (top >>> 32);
            int right = pos < n ? next[pos] : -1;
            if (id[pos] < 0 || right < 0) {
                continue; // merged away since it was queued
            }
            long m = merge(((long) id[pos] << 32) | (id[right] & 0xffffffffL));
            if (m == Long.MAX_VALUE || (int) (m >>> 32) != rank) {
                continue; // the pair at pos changed: its own entry is queued
            }
            id[pos] = (int) m;
            id[right] = -1;
            next[pos] = next[right];
            if (next[right] >= 0) {
                prev[next[right]] = pos;
            }
            live--;
            if (prev[pos] >= 0) {
                push(heap, id, prev[pos], pos);
            }
            if (next[pos] >= 0) {
                push(heap, id, pos, next[pos]);
            }
        }
        int[] out = new int[live];
        for (int i = 0, k = 0; i >= 0 && k < live; i = next[i]) {
            out[k++] = id[i];
        }
        return out;
    }

    private void push(LongHeap heap, int[] id, int left, int right) {
        long m = merge(((long) id[left] << 32) | (id[right] & 0xffffffffL));
        if (m != Long.MAX_VALUE) {
            heap.push((m & 0xffffffff00000000L) | left); // (rank, position): lowest rank, then leftmost
        }
    }

    /** A binary min-heap of longs. */
    private static final class LongHeap {
        private long[] a;
        private int n;

        LongHeap(int capacity) {
            a = new long[capacity];
        }

        boolean isEmpty() {
            return n == 0;
        }

        void push(long v) {
            if (n == a.length) {
                a = java.util.Arrays.copyOf(a, n * 2);
            }
            int i = n++;
            while (i > 0) {
                int p = (i - 1) >>> 1;
                if (a[p] <= v) {
                    break;
                }
                a[i] = a[p];
                i = p;
            }
            a[i] = v;
        }

        long pop() {
            long top = a[0];
            long last = a[--n];
            int i = 0;
            while (true) {
                int c = 2 * i + 1;
                if (c >= n) {
                    break;
                }
                if (c + 1 < n && a[c + 1] < a[c]) {
                    c++;
                }
                if (a[c] >= last) {
                    break;
                }
                a[i] = a[c];
                i = c;
            }
            if (n > 0) {
                a[i] = last;
            }
            return top;
        }
    }

    /** A growable int array (no boxing per token). */
    private static final class IntList {
        private int[] a;
        private int n;

        IntList(int capacity) {
            a = new int[capacity];
        }

        void add(int v) {
            if (n == a.length) {
                a = java.util.Arrays.copyOf(a, n * 2);
            }
            a[n++] = v;
        }

        int[] toArray() {
            return java.util.Arrays.copyOf(a, n);
        }
    }
}
