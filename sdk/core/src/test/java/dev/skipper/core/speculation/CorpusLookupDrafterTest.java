package dev.skipper.core.speculation;

import dev.skipper.api.SamplingOptions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Corpus lookup: the majority continuations it stores and the drafts a lookup gives. */
class CorpusLookupDrafterTest {

    @Test
    void draftsTheMajorityContinuationWhileHalfTheOccurrencesAgree() {
        int[] corpus = {1, 2, 3, 4, 7, -1, 1, 2, 3, 5, -1, 9, 1, 2, 3, 4, 8, -1};
        CorpusLookupDrafter d = new CorpusLookupDrafter(corpus, 10);
        // "1 2" occurs three times: 3 (3/3), then 4 (2/3), then 7 vs 8 (1 each: fewer than MIN_COUNT)
        assertArrayEquals(new int[] {3, 4}, d.continuationOf(new int[] {6, 1, 2}));
        // "2 3 5" is seen once: the shorter "3 5" too, so nothing
        assertArrayEquals(new int[0], d.continuationOf(new int[] {2, 3, 5}));
        // an n-gram crossing an answer's end is never stored
        assertArrayEquals(new int[0], d.continuationOf(new int[] {7, 1}));
    }

    @Test
    void theLongestSuffixWithAContinuationWins() {
        // "2 3" is followed by 6 three times and by 4 twice; "1 2 3" only by 4 (twice)
        int[] corpus = {1, 2, 3, 4, -1, 1, 2, 3, 4, -1, 2, 3, 6, -1, 2, 3, 6, -1, 2, 3, 6, -1};
        CorpusLookupDrafter d = new CorpusLookupDrafter(corpus, 10);
        assertArrayEquals(new int[] {4}, d.continuationOf(new int[] {1, 2, 3}));
        assertArrayEquals(new int[] {6}, d.continuationOf(new int[] {5, 2, 3}));
        // "0 1 2" is unknown: "1 2" (twice) continues 3, 4 and the answers end
        assertArrayEquals(new int[] {3, 4}, d.continuationOf(new int[] {0, 1, 2}));
    }

    @Test
    void matchesABruteForceReferenceOnRandomText() {
        Random r = new Random(7);
        int[] corpus = new int[4000];
        for (int i = 0; i < corpus.length; i++) {
            // a small vocabulary and a usual successor (+1): repeats with majorities and near-ties
            int prev = i == 0 || corpus[i - 1] < 0 ? 0 : corpus[i - 1];
            corpus[i] = r.nextInt(40) == 0 ? -1 : r.nextInt(10) < 6 ? (prev + 1) % 6 : r.nextInt(6);
        }
        corpus[corpus.length - 1] = -1;
        CorpusLookupDrafter d = new CorpusLookupDrafter(corpus, 6);
        int checked = 0;
        for (int t = 0; t < 300; t++) {
            int[] text = new int[2 + r.nextInt(4)];
            for (int i = 0; i < text.length; i++) {
                text[i] = r.nextInt(6);
            }
            int[] want = reference(corpus, text);
            assertArrayEquals(want, d.continuationOf(text), Arrays.toString(text));
            checked += want.length > 0 ? 1 : 0;
        }
        assertTrue(checked > 100, "many random suffixes have a stored continuation: " + checked);
        assertTrue(d.entries() > 0);
    }

    @Test
    void proposesFixedDraftsClippedToMax() {
        int[] corpus = {1, 2, 3, 4, 5, 6, -1, 1, 2, 3, 4, 5, 6, -1};
        CorpusLookupDrafter d = new CorpusLookupDrafter(corpus, 10);
        assertFalse(d.runsModel());
        assertEquals("corpus", d.name());
        Drafts batch = Drafts.forTests(8);
        int[] tokens = {9, 9, 1, 2};
        DraftContext context = new DraftContext(null, null, null).set(tokens, tokens.length, SamplingOptions.GREEDY);
        d.propose(context, 3, batch);
        assertEquals(3, batch.count());
        assertArrayEquals(new int[] {3, 4, 5}, new int[] {batch.token(0), batch.token(1), batch.token(2)});
        assertTrue(batch.deterministic());
        batch.clear();
        int[] none = {9, 8};
        d.propose(new DraftContext(null, null, null).set(none, none.length, SamplingOptions.GREEDY), 3, batch);
        assertEquals(0, batch.count());
    }

    @Test
    void refusesIdsOutsideTheVocabulary() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new CorpusLookupDrafter(new int[] {1, 2, 10, -1}, 10));
        assertTrue(e.getMessage().contains("entry 2 is 10, outside [-1, 10)"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new CorpusLookupDrafter(new int[] {-2}, 10));
    }

    /** The drafter's rule written directly: longest n-gram (4..2) with a non-empty majority continuation. */
    private static int[] reference(int[] corpus, int[] text) {
        for (int n = Math.min(CorpusLookupDrafter.MAX_NGRAM, text.length); n >= CorpusLookupDrafter.MIN_NGRAM; n--) {
            List<Integer> ends = new ArrayList<>();
            outer:
            for (int end = n; end < corpus.length; end++) {
                for (int k = 0; k < n; k++) {
                    if (corpus[end - n + k] != text[text.length - n + k]) {
                        continue outer;
                    }
                }
                if (corpus[end] != -1) {
                    ends.add(end);
                }
            }
            if (ends.size() < CorpusLookupDrafter.MIN_COUNT) {
                continue;
            }
            List<Integer> out = new ArrayList<>();
            while (out.size() < CorpusLookupDrafter.MAX_CONTINUATION && ends.size() >= CorpusLookupDrafter.MIN_COUNT) {
                Map<Integer, Integer> votes = new HashMap<>();
                for (int e : ends) {
                    int tok = corpus[e + out.size()];
                    if (tok != -1) {
                        votes.merge(tok, 1, Integer::sum);
                    }
                }
                int best = -1;
                int count = 0;
                for (Map.Entry<Integer, Integer> v : votes.entrySet()) {
                    if (v.getValue() > count || (v.getValue() == count && v.getKey() < best)) {
                        best = v.getKey();
                        count = v.getValue();
                    }
                }
                if (count < CorpusLookupDrafter.MIN_COUNT || 2 * count < ends.size()) {
                    break;
                }
                int at = out.size();
                final int chosen = best;
                ends.removeIf(e -> corpus[e + at] != chosen);
                out.add(best);
            }
            if (!out.isEmpty()) {
                return out.stream().mapToInt(Integer::intValue).toArray();
            }
        }
        return new int[0];
    }
}
