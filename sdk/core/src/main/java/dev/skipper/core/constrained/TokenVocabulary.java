package dev.skipper.core.constrained;

import java.util.Arrays;
import java.util.Comparator;

/**
 * The model's tokens as the bytes they decode to, sorted, with the length of the prefix each shares
 * with the one before: a flat trie. Built once per engine; {@link TokenMasks} walks it per grammar
 * state in one pass over the vocabulary, reusing the automaton walk of a shared prefix.
 */
public final class TokenVocabulary {
    private final int size;          // model vocabulary size
    private final int[] order;       // [n] token ids with bytes, sorted by their bytes
    private final byte[][] bytes;    // [n] their bytes, in that order
    private final int[] shared;      // [n] prefix length shared with the previous entry
    private final int[] eos;         // end-of-sequence ids
    private final byte[][] byId;     // [vocab] bytes by token id (null: none)

    /**
     * @param tokenBytes {@code [vocab]} each id's bytes; {@code null} or empty for tokens that decode
     *     to nothing (special tokens): never allowed inside a document
     * @param eosIds end-of-sequence ids: allowed once the document is complete
     */
    public TokenVocabulary(byte[][] tokenBytes, int[] eosIds) {
        this.size = tokenBytes.length;
        this.byId = tokenBytes.clone();
        Integer[] ids = new Integer[tokenBytes.length];
        int n = 0;
        for (int i = 0; i < tokenBytes.length; i++) {
            if (tokenBytes[i] != null && tokenBytes[i].length > 0) {
                ids[n++] = i;
            }
        }
        Integer[] live = Arrays.copyOf(ids, n);
        Arrays.sort(live, Comparator.comparing((Integer i) -> tokenBytes[i], Arrays::compareUnsigned));
        order = new int[n];
        bytes = new byte[n][];
        shared = new int[n];
        for (int k = 0; k < n; k++) {
            order[k] = live[k];
            bytes[k] = tokenBytes[live[k]];
            if (k > 0) {
                byte[] a = bytes[k - 1];
                byte[] b = bytes[k];
                int m = Arrays.mismatch(a, b);
                shared[k] = m < 0 ? a.length : m;
            }
        }
        eos = eosIds.clone();
    }

    /** @return the model's vocabulary size (mask width) */
    public int size() {
        return size;
    }

    int entries() {
        return order.length;
    }

    int id(int k) {
        return order[k];
    }

    byte[] bytes(int k) {
        return bytes[k];
    }

    int shared(int k) {
        return shared[k];
    }

    /** @param id a token id @return its bytes, or null */
    byte[] bytesOf(int id) {
        return id >= 0 && id < size ? byId[id] : null;
    }

    int[] eos() {
        return eos;
    }
}
