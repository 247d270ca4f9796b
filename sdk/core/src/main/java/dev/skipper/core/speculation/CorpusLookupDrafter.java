package dev.skipper.core.speculation;

import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Corpus lookup: drafts what the model itself said after the same words in its calibration
 * answers (the bundle's {@code draft_corpus}): its openings, list markers, code fences and
 * recurring phrases, which prompt lookup cannot find in a short prompt. Free like prompt lookup
 * (no model call), so a draft costs only its verified row.
 *
 * <p>At load every n-gram ({@value #MIN_NGRAM} to {@value #MAX_NGRAM} tokens) that occurs at least
 * {@value #MIN_COUNT} times gets its majority continuation: token by token, the most frequent next
 * token among the occurrences still following, kept while at least {@value #MIN_COUNT} of them and
 * half of them agree (up to {@value #MAX_CONTINUATION} tokens). A lookup tries the longest suffix
 * of the text first. The table is built once; {@link #propose} allocates nothing and changes
 * nothing, so one instance serves every session of an engine (thread-safe after construction).
 * Drafts are fixed choices ({@link Drafts#proposeFixed()}).
 */
public final class CorpusLookupDrafter implements Drafter {
    /** Shortest suffix looked up. */
    public static final int MIN_NGRAM = 2;
    /** Longest suffix looked up. */
    public static final int MAX_NGRAM = 4;
    /** Occurrences an n-gram, and each continuation token, needs. */
    public static final int MIN_COUNT = 2;
    /** Longest continuation stored per n-gram. */
    public static final int MAX_CONTINUATION = 8;

    private static final int SEPARATOR = -1;
    private static final long EMPTY = 0L;

    private final int[] corpus;     // [tokens] token ids, SEPARATOR after each answer
    private final long[] keys;      // [slots] (hash << 8 | n) + 1 of a stored n-gram, EMPTY if free
    private final int[] at;         // [slots] where one occurrence of the n-gram ends (exclusive) in corpus
    private final int[] from;       // [slots] first continuation token in conts
    private final byte[] length;    // [slots] continuation tokens, 1 .. MAX_CONTINUATION
    private final int[] conts;      // [sum of lengths] the continuations, back to back
    private final int mask;
    private final int entries;

    /**
     * Indexes a corpus.
     *
     * @param corpus token ids, each answer followed by -1 (not copied: not to be changed after)
     * @param vocabSize ids must be below it
     * @throws IllegalArgumentException on an id outside [-1, vocabSize)
     */
    public CorpusLookupDrafter(int[] corpus, int vocabSize) {
        for (int i = 0; i < corpus.length; i++) {
            if (corpus[i] < SEPARATOR || corpus[i] >= vocabSize) {
                throw new IllegalArgumentException("draft corpus entry " + i + " is " + corpus[i] + ", outside [-1, "
                        + vocabSize + ")");
            }
        }
        this.corpus = corpus;
        if (corpus.length >= 1 << 28) {
            throw new IllegalArgumentException("draft corpus of " + corpus.length + " tokens is too large");
        }
        // Every n-gram occurrence followed by a token, as (hash << 32 | end << 3 | n): sorting groups
        // equal n-grams (a hash run may still mix two: split by the tokens below).
        long[] occ = new long[corpus.length * (MAX_NGRAM - MIN_NGRAM + 1)];
        int count = 0;
        for (int n = MIN_NGRAM; n <= MAX_NGRAM; n++) {
            for (int end = n; end < corpus.length; end++) {
                if (corpus[end] != SEPARATOR && clean(corpus, end - n, n)) {
                    occ[count++] = ((long) hash(corpus, end - n, n) << 32) | ((long) end << 3) | n;
                }
            }
        }
        Arrays.sort(occ, 0, count);
        int[] pending = new int[Math.max(1, count)]; // [run] packed end << 3 | n of one hash run
        int[] group = new int[Math.max(1, count)];   // [members] ends of one n-gram's occurrences
        int[] votes = new int[Math.max(1, count)];   // [members] next tokens being counted
        int[] cont = new int[MAX_CONTINUATION];
        // Pass 1 counts entries and tokens, pass 2 stores them (sizes known before allocation).
        int stored = 0;
        int storedTokens = 0;
        Table table = null;
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1) {
                table = new Table(stored, storedTokens);
                stored = 0;
                storedTokens = 0;
            }
            for (int i = 0; i < count; ) {
                int h = (int) (occ[i] >>> 32);
                int left = 0;
                for (; i < count && (int) (occ[i] >>> 32) == h; i++) {
                    pending[left++] = (int) occ[i];
                }
                while (left > 0) {
                    int n = pending[0] & 7;
                    int first = pending[0] >>> 3;
                    int members = 0;
                    int rest = 0;
                    for (int k = 0; k < left; k++) {
                        int e = pending[k] >>> 3;
                        if ((pending[k] & 7) == n && same(corpus, first - n, e - n, n)) {
                            group[members++] = e;
                        } else {
                            pending[rest++] = pending[k];
                        }
                    }
                    left = rest;
                    int len = members >= MIN_COUNT ? continuation(group, members, votes, cont) : 0;
                    if (len > 0) {
                        if (table != null) {
                            table.put(h, n, first, cont, len, storedTokens);
                        }
                        stored++;
                        storedTokens += len;
                    }
                }
            }
        }
        this.keys = table.keys;
        this.at = table.at;
        this.from = table.from;
        this.length = table.length;
        this.conts = table.conts;
        this.mask = table.keys.length - 1;
        this.entries = stored;
    }

    /**
     * Loads the bundle's draft corpus.
     *
     * @param manifest a bundle whose manifest has {@code draft_corpus}
     * @return the drafter
     * @throws SkipperException naming the file when it cannot be read or holds a bad id
     */
    public static CorpusLookupDrafter load(BundleManifest manifest) throws SkipperException {
        BundleManifest.DraftCorpusSpec spec = manifest.draftCorpus();
        Path path = manifest.resolve(spec.file());
        try {
            long size = Files.size(path);
            if (size != 4L * spec.tokens()) {
                throw new SkipperException(path + ": " + size + " bytes, expected " + 4L * spec.tokens()
                        + " (draft_corpus tokens x 4)");
            }
            int[] ids = new int[spec.tokens()];
            ByteBuffer.wrap(Files.readAllBytes(path)).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(ids);
            int separators = 0;
            for (int id : ids) {
                separators += id == SEPARATOR ? 1 : 0;
            }
            if (separators != spec.sequences() || ids[ids.length - 1] != SEPARATOR) {
                throw new SkipperException(path + ": " + separators + " answers ended by -1"
                        + (ids[ids.length - 1] != SEPARATOR ? " and an unterminated last one" : "")
                        + ", the manifest says " + spec.sequences());
            }
            return new CorpusLookupDrafter(ids, manifest.model().vocabSize());
        } catch (IOException e) {
            throw new SkipperException("cannot read " + path + ": " + e.getMessage(), e);
        } catch (IllegalArgumentException e) {
            throw new SkipperException(path + ": " + e.getMessage(), e);
        }
    }

    @Override
    public String name() {
        return "corpus";
    }

    @Override
    public boolean runsModel() {
        return false;
    }

    @Override
    public void propose(DraftContext context, int max, Drafts out) {
        out.proposeFixed();
        int slot = lookup(context.tokens(), context.length());
        if (slot >= 0) {
            int m = Math.min(max, length[slot]);
            for (int i = 0; i < m; i++) {
                out.add(conts[from[slot] + i]);
            }
        }
    }

    /**
     * The stored continuation of a sequence's suffix, for tests.
     *
     * @param tokens the text so far
     * @return the draft a lookup gives (up to {@value #MAX_CONTINUATION} tokens), empty without one
     */
    int[] continuationOf(int[] tokens) {
        int slot = lookup(tokens, tokens.length);
        return slot < 0 ? new int[0] : Arrays.copyOfRange(conts, from[slot], from[slot] + length[slot]);
    }

    /** @return n-grams with a stored continuation */
    public int entries() {
        return entries;
    }

    /** The slot of the longest suffix of tokens[0 .. len) with a stored continuation, or -1. */
    private int lookup(int[] tokens, int len) {
        for (int n = Math.min(MAX_NGRAM, len); n >= MIN_NGRAM; n--) {
            int slot = find(tokens, len - n, n);
            if (slot >= 0) {
                return slot;
            }
        }
        return -1;
    }

    private int find(int[] tokens, int start, int n) {
        long key = key(hash(tokens, start, n), n);
        for (int s = (int) mix(key) & mask; ; s = (s + 1) & mask) {
            long k = keys[s];
            if (k == EMPTY) {
                return -1;
            }
            if (k == key && sameAcross(tokens, start, at[s] - n, n)) {
                return s;
            }
        }
    }

    /** The majority continuation of the occurrences ending at group[0 .. members); its length. */
    private int continuation(int[] group, int members, int[] votes, int[] out) {
        int alive = members;
        int len = 0;
        while (len < MAX_CONTINUATION && alive >= MIN_COUNT) {
            // The most frequent next token among the live occurrences (sorted, then the longest run).
            for (int a = 0; a < alive; a++) {
                votes[a] = corpus[group[a] + len];
            }
            Arrays.sort(votes, 0, alive);
            int best = SEPARATOR;
            int bestCount = 0;
            for (int a = 0; a < alive; ) {
                int b = a;
                while (b < alive && votes[b] == votes[a]) {
                    b++;
                }
                if (votes[a] != SEPARATOR && b - a > bestCount) {
                    best = votes[a];
                    bestCount = b - a;
                }
                a = b;
            }
            if (bestCount < MIN_COUNT || 2 * bestCount < alive) {
                break; // too few, or fewer than half of them agree
            }
            int kept = 0;
            for (int a = 0; a < alive; a++) {
                if (corpus[group[a] + len] == best) {
                    group[kept++] = group[a];
                }
            }
            alive = kept;
            out[len++] = best;
        }
        return len;
    }

    private boolean sameAcross(int[] tokens, int start, int corpusStart, int n) {
        for (int i = 0; i < n; i++) {
            if (tokens[start + i] != corpus[corpusStart + i]) {
                return false;
            }
        }
        return true;
    }

    private static boolean same(int[] a, int i, int j, int n) {
        for (int k = 0; k < n; k++) {
            if (a[i + k] != a[j + k]) {
                return false;
            }
        }
        return true;
    }

    private static boolean clean(int[] a, int start, int n) {
        for (int k = 0; k < n; k++) {
            if (a[start + k] == SEPARATOR) {
                return false;
            }
        }
        return true;
    }

    /** A 32-bit hash of n tokens that also depends on n. */
    static int hash(int[] a, int start, int n) {
        int h = 0x9E3779B9 * (n + 1);
        for (int k = 0; k < n; k++) {
            h = (h ^ a[start + k]) * 0x01000193;
            h ^= h >>> 15;
        }
        return h;
    }

    private static long key(int hash, int n) {
        return ((((long) hash) & 0xFFFFFFFFL) << 8 | n) + 1; // never EMPTY
    }

    private static long mix(long x) {
        x ^= x >>> 33;
        x *= 0xff51afd7ed558ccdL;
        x ^= x >>> 33;
        return x;
    }

    /** The open-addressing table of pass 2, sized from pass 1's counts. */
    private static final class Table {
        final long[] keys;
        final int[] at;
        final int[] from;
        final byte[] length;
        final int[] conts;

        Table(int entries, int tokens) {
            int slots = Integer.highestOneBit(Math.max(2, entries) * 2 - 1) << 1;
            keys = new long[slots];
            at = new int[slots];
            from = new int[slots];
            length = new byte[slots];
            conts = new int[tokens];
        }

        void put(int hash, int n, int end, int[] cont, int len, int offset) {
            long key = key(hash, n);
            int s = (int) mix(key) & (keys.length - 1);
            while (keys[s] != EMPTY) {
                s = (s + 1) & (keys.length - 1);
            }
            keys[s] = key;
            at[s] = end;
            from[s] = offset;
            length[s] = (byte) len;
            System.arraycopy(cont, 0, conts, offset, len);
        }
    }
}
