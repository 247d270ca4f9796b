package dev.skipper.core.sampling;

import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class RecentTokensTest {

    @Test
    void windowShowsTheNewestTokensOldestFirst() {
        RecentTokens r = new RecentTokens(10, 3);
        assertEquals(0, r.size());
        r.add(5);
        r.add(6);
        assertEquals(2, r.size());
        assertEquals(5, r.get(0));
        r.addAll(new int[] {7, 8, 9}, 0, 3);
        assertEquals(5, r.length());
        assertEquals(3, r.size());
        assertEquals(7, r.get(0));
        assertEquals(9, r.get(2));
        assertThrows(IndexOutOfBoundsException.class, () -> r.get(3));
    }

    @Test
    void truncateRestoresTheWindowBeforeDrafts() {
        RecentTokens r = new RecentTokens(10, 2);
        r.addAll(new int[] {1, 2, 3}, 0, 3);
        r.add(40); // drafts
        r.add(41);
        r.truncate(3); // both rejected: the window is again what it was, not lost to a ring
        assertEquals(2, r.get(0));
        assertEquals(3, r.get(1));
        assertThrows(IllegalArgumentException.class, () -> r.truncate(4));
        r.clear();
        assertEquals(0, r.size());
    }

    @Test
    void capacityIsEnforced() {
        RecentTokens r = new RecentTokens(2, 8);
        r.add(1);
        r.add(2);
        assertThrows(IllegalStateException.class, () -> r.add(3));
        assertThrows(IllegalStateException.class, () -> new RecentTokens(2, 2).addAll(new int[3], 0, 3));
    }
}
