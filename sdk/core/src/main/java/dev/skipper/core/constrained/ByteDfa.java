package dev.skipper.core.constrained;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A deterministic automaton over bytes, built from a {@link BytePattern} by Thompson's construction
 * and the subset construction. State 0 is the start; {@link #next} gives -1 for a byte that leaves
 * the language. Every state it returns can still reach an accepting state (dead ends are cut), so
 * a generator that follows it can always finish a valid document.
 */
public final class ByteDfa implements ByteAutomaton {
    /** Most NFA states (a schema that needs more is refused). */
    static final int MAX_NFA_STATES = 400_000;
    /** Most DFA states. */
    static final int MAX_DFA_STATES = 50_000;

    private final int[] table;       // [states * 256] next state, -1: dead
    private final boolean[] accepting; // [states]
    private final boolean[] closed;    // [states] accepting with no byte left to take: the document is done
    private final int states;

    private ByteDfa(int[] table, boolean[] accepting, int states) {
        this.table = table;
        this.accepting = accepting;
        this.states = states;
        this.closed = new boolean[states];
        for (int s = 0; s < states; s++) {
            boolean exit = false;
            for (int b = 0; b < 256 && !exit; b++) {
                exit = table[s * 256 + b] >= 0;
            }
            closed[s] = accepting[s] && !exit;
        }
    }

    /** @param state a state @return whether the document is complete there and nothing may follow */
    public boolean closed(int state) {
        return closed[state];
    }

    /** @return the number of states */
    public int states() {
        return states;
    }

    /**
     * @param state a state
     * @param b a byte (0..255)
     * @return the next state, or -1
     */
    public int next(int state, int b) {
        return table[state * 256 + b];
    }

    /**
     * @param state a state
     * @param bytes bytes to feed
     * @return the state after all of them, or -1 when one leaves the language
     */
    public int walk(int state, byte[] bytes) {
        int s = state;
        for (int i = 0; i < bytes.length && s >= 0; i++) {
            s = table[s * 256 + (bytes[i] & 0xff)];
        }
        return s;
    }

    /** @param state a state @return whether the bytes so far form a whole document */
    public boolean accepting(int state) {
        return accepting[state];
    }

    @Override
    public long start() {
        return 0;
    }

    @Override
    public long next(long config, int b) {
        return table[(int) config * 256 + b];
    }

    @Override
    public boolean accepting(long config) {
        return accepting[(int) config];
    }

    @Override
    public boolean closed(long config) {
        return closed[(int) config];
    }

    /** @param bytes a candidate document @return whether it is in the language */
    @Override
    public boolean matches(byte[] bytes) {
        int s = walk(0, bytes);
        return s >= 0 && accepting[s];
    }

    // ---- construction ------------------------------------------------------------------------

    /**
     * @param pattern the language
     * @param what named in the error when it is too large
     * @return its automaton
     * @throws SchemaException if it needs more than {@link #MAX_NFA_STATES} or {@link #MAX_DFA_STATES} states
     */
    static ByteDfa compile(BytePattern pattern, String what) throws SchemaException {
        Nfa nfa = new Nfa(what);
        int[] frag = nfa.build(pattern);
        nfa.accept = frag[1];
        return determinize(nfa, what);
    }

    /** Thompson NFA: epsilon edges and byte-set edges. */
    private static final class Nfa {
        final List<int[]> eps = new ArrayList<>();     // [state] targets
        final List<long[][]> sets = new ArrayList<>(); // [state] byte sets of its edges
        final List<int[]> targets = new ArrayList<>(); // [state] targets of those edges
        final String what;
        int accept;
        int[] mark;  // [states] closure() visit stamps
        int stamp;

        Nfa(String what) {
            this.what = what;
        }

        int add() throws SchemaException {
            if (eps.size() >= MAX_NFA_STATES) {
                throw new SchemaException("", what + " is too large to enforce (more than " + MAX_NFA_STATES
                        + " automaton states): lower maxLength/maxItems or simplify it");
            }
            eps.add(new int[0]);
            sets.add(new long[0][]);
            targets.add(new int[0]);
            return eps.size() - 1;
        }

        void epsilon(int from, int to) {
            int[] e = eps.get(from);
            int[] n = Arrays.copyOf(e, e.length + 1);
            n[e.length] = to;
            eps.set(from, n);
        }

        void edge(int from, long[] set, int to) {
            long[][] s = sets.get(from);
            long[][] ns = Arrays.copyOf(s, s.length + 1);
            ns[s.length] = set;
            sets.set(from, ns);
            int[] t = targets.get(from);
            int[] nt = Arrays.copyOf(t, t.length + 1);
            nt[t.length] = to;
            targets.set(from, nt);
        }

        /** @return {start, end} of the fragment */
        int[] build(BytePattern p) throws SchemaException {
            if (p instanceof BytePattern.Range r) {
                int a = add();
                int b = add();
                edge(a, r.set(), b);
                return new int[] {a, b};
            }
            if (p instanceof BytePattern.Seq s) {
                int start = add();
                int cur = start;
                for (BytePattern part : s.parts()) {
                    int[] f = build(part);
                    epsilon(cur, f[0]);
                    cur = f[1];
                }
                return new int[] {start, cur};
            }
            if (p instanceof BytePattern.Alt a) {
                int start = add();
                int end = add();
                for (BytePattern o : a.options()) {
                    int[] f = build(o);
                    epsilon(start, f[0]);
                    epsilon(f[1], end);
                }
                return new int[] {start, end};
            }
            BytePattern.Repeat r = (BytePattern.Repeat) p;
            int start = add();
            int cur = start;
            for (int i = 0; i < r.min(); i++) {
                int[] f = build(r.body());
                epsilon(cur, f[0]);
                cur = f[1];
            }
            if (r.max() < 0) {
                int[] f = build(r.body());
                int end = add();
                epsilon(cur, f[0]);
                epsilon(cur, end);
                epsilon(f[1], f[0]);
                epsilon(f[1], end);
                return new int[] {start, end};
            }
            int end = add();
            for (int i = r.min(); i < r.max(); i++) {
                epsilon(cur, end);
                int[] f = build(r.body());
                epsilon(cur, f[0]);
                cur = f[1];
            }
            epsilon(cur, end);
            return new int[] {start, end};
        }
    }

    /** Epsilon closure of seeds, sorted; marks reuse one array across calls (a stamp per call). */
    private static int[] closure(Nfa nfa, int[] seeds) {
        if (nfa.mark == null || nfa.mark.length < nfa.eps.size()) {
            nfa.mark = new int[nfa.eps.size()];
            nfa.stamp = 0;
        }
        int stamp = ++nfa.stamp;
        int[] mark = nfa.mark;
        int[] out = new int[Math.max(8, seeds.length * 2)];
        int count = 0;
        ArrayDeque<Integer> stack = new ArrayDeque<>();
        for (int s : seeds) {
            if (mark[s] != stamp) {
                mark[s] = stamp;
                stack.push(s);
            }
        }
        while (!stack.isEmpty()) {
            int s = stack.pop();
            if (count == out.length) {
                out = Arrays.copyOf(out, count * 2);
            }
            out[count++] = s;
            for (int t : nfa.eps.get(s)) {
                if (mark[t] != stamp) {
                    mark[t] = stamp;
                    stack.push(t);
                }
            }
        }
        int[] r = Arrays.copyOf(out, count);
        Arrays.sort(r);
        return r;
    }

    private static ByteDfa determinize(Nfa nfa, String what) throws SchemaException {
        Map<Key, Integer> ids = new HashMap<>();
        List<int[]> members = new ArrayList<>();
        List<int[]> rows = new ArrayList<>();
        int[] start = closure(nfa, new int[] {0});
        ids.put(new Key(start), 0);
        members.add(start);
        for (int d = 0; d < members.size(); d++) {
            int[] set = members.get(d);
            int[] row = new int[256];
            Arrays.fill(row, -1);
            int[][] byByte = new int[256][];
            int[] counts = new int[256];
            for (int s : set) {
                long[][] es = nfa.sets.get(s);
                int[] ts = nfa.targets.get(s);
                for (int e = 0; e < es.length; e++) {
                    long[] bits = es[e];
                    for (int w = 0; w < 4; w++) {
                        long word = bits[w];
                        while (word != 0) {
                            int b = (w << 6) | Long.numberOfTrailingZeros(word);
                            word &= word - 1;
                            if (byByte[b] == null) {
                                byByte[b] = new int[4];
                            } else if (counts[b] == byByte[b].length) {
                                byByte[b] = Arrays.copyOf(byByte[b], counts[b] * 2);
                            }
                            byByte[b][counts[b]++] = ts[e];
                        }
                    }
                }
            }
            Map<Key, int[]> closures = new HashMap<>(); // bytes with the same targets share a closure
            for (int b = 0; b < 256; b++) {
                if (counts[b] == 0) {
                    continue;
                }
                int[] seeds = Arrays.copyOf(byByte[b], counts[b]);
                Arrays.sort(seeds);
                Key seedKey = new Key(seeds);
                int[] target = closures.computeIfAbsent(seedKey, k -> closure(nfa, k.v));
                Key key = new Key(target);
                Integer id = ids.get(key);
                if (id == null) {
                    if (members.size() >= MAX_DFA_STATES) {
                        throw new SchemaException("", what + " is too large to enforce (more than " + MAX_DFA_STATES
                                + " automaton states): lower maxLength/maxItems or simplify it");
                    }
                    id = members.size();
                    ids.put(key, id);
                    members.add(target);
                }
                row[b] = id;
            }
            rows.add(row);
        }
        int n = members.size();
        boolean[] accepting = new boolean[n];
        for (int d = 0; d < n; d++) {
            accepting[d] = Arrays.binarySearch(members.get(d), nfa.accept) >= 0;
        }
        // Cut states that cannot reach an accepting one (reverse reachability).
        List<List<Integer>> reverse = new ArrayList<>(n);
        for (int d = 0; d < n; d++) {
            reverse.add(new ArrayList<>());
        }
        for (int d = 0; d < n; d++) {
            for (int t : rows.get(d)) {
                if (t >= 0) {
                    reverse.get(t).add(d);
                }
            }
        }
        boolean[] live = new boolean[n];
        ArrayDeque<Integer> work = new ArrayDeque<>();
        for (int d = 0; d < n; d++) {
            if (accepting[d]) {
                live[d] = true;
                work.add(d);
            }
        }
        while (!work.isEmpty()) {
            for (int p : reverse.get(work.poll())) {
                if (!live[p]) {
                    live[p] = true;
                    work.add(p);
                }
            }
        }
        if (!live[0]) {
            throw new SchemaException("", what + " accepts no document at all");
        }
        int[] table = new int[n * 256];
        for (int d = 0; d < n; d++) {
            int[] row = rows.get(d);
            for (int b = 0; b < 256; b++) {
                int t = row[b];
                table[d * 256 + b] = t >= 0 && live[t] ? t : -1;
            }
        }
        return new ByteDfa(table, accepting, n);
    }

    /** An int[] as a hash key. */
    private record Key(int[] v) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && Arrays.equals(v, k.v);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(v);
        }
    }
}
