package dev.skipper.runtime.profiles;

import dev.skipper.runtime.spi.DevicePrecision;
import dev.skipper.bundle.BundleManifest;
import java.util.ArrayList;
import java.util.List;

/**
 * The optimization profiles of every engine of a bundle. Two per engine:
 * <ul>
 *   <li>{@code decode} (profile 0): {@code seq} 1 .. {@link #verifyRows} new tokens, tuned for 1: a
 *       plain decode step and a speculative verification of up to {@code verifyRows - 1} drafts;
 *   <li>{@code prefill} (profile 1): {@code seq} 1 .. {@link #prefillRows}, tuned for a full chunk
 *       (the decode loop prefills in chunks of {@code DefaultEngine.PREFILL_CHUNK}); the runner
 *       splits a longer call into chunks.
 * </ul>
 * Layers also range {@code past} over 0 .. max_position - 1 cached tokens (tuned for
 * {@link #OPT_PAST}), so one engine serves every context length and cache. {@link #profileFor}
 * picks the profile of a call.
 *
 * @param verifyRows most rows of the decode profile (max draft + 1), at least 1
 * @param prefillRows most rows of one prefill enqueue, &gt;= verifyRows
 * @param maxPosition the model's max_position
 * @param hiddenSize the model's hidden size
 * @param kvHeads key/value heads
 * @param headDim head width
 */
public record ProfilePlan(int verifyRows, int prefillRows, int maxPosition, int hiddenSize, int kvHeads, int headDim) {
    /** Rows of the decode profile by default: speculation verifies at most 15 drafts + 1. */
    public static final int DEFAULT_VERIFY_ROWS = 16;
    /** Rows of one prefill enqueue by default (the decode loop's chunk). */
    public static final int DEFAULT_PREFILL_ROWS = 64;
    /** The cached length kernels are tuned for (capped at max_position - 1). */
    public static final int OPT_PAST = 512;
    /** Index of the decode/verify profile. */
    public static final int DECODE = 0;
    /** Index of the prefill profile. */
    public static final int PREFILL = 1;

    /** Validates. */
    public ProfilePlan {
        if (verifyRows < 1 || prefillRows < verifyRows || maxPosition < 1 || hiddenSize < 1 || kvHeads < 1
                || headDim < 1) {
            throw new IllegalArgumentException("invalid profile plan: verifyRows " + verifyRows + ", prefillRows "
                    + prefillRows + ", maxPosition " + maxPosition);
        }
    }

    /**
     * The default plan of a bundle.
     *
     * @param manifest the bundle
     * @return the plan
     */
    public static ProfilePlan of(BundleManifest manifest) {
        BundleManifest.ModelDims m = manifest.model();
        int prefill = Math.min(DEFAULT_PREFILL_ROWS, m.maxPosition());
        return new ProfilePlan(Math.min(DEFAULT_VERIFY_ROWS, prefill), prefill, m.maxPosition(), m.hiddenSize(),
                m.numKvHeads(), m.headDim());
    }

    /** The kinds of graph, by their dynamic inputs. */
    public enum GraphKind {
        /** input_ids [1, seq]. */
        EMBED,
        /** hidden, position_ids, past_key, past_value. */
        LAYER,
        /** hidden, position_ids (K/V only). */
        KV_FILL,
        /** hidden [1, seq, H]: the head, exit heads and the draft head. */
        HIDDEN_ONLY,
        /** feature, embedded [1, seq, H], position_ids, past_key, past_value: the trained feature drafter. */
        FEATURE_DRAFTER
    }

    /**
     * @param count rows of one enqueue, 1 .. prefillRows
     * @return {@link #DECODE} or {@link #PREFILL}
     */
    public int profileFor(int count) {
        if (count < 1 || count > prefillRows) {
            throw new IllegalArgumentException("an enqueue runs 1 .. " + prefillRows + " rows, got " + count);
        }
        return count <= verifyRows ? DECODE : PREFILL;
    }

    /**
     * The build spec of one graph.
     *
     * @param kind the graph's kind
     * @param precision engine precision
     * @param workspaceBytes builder workspace limit
     * @return the spec with both profiles
     */
    public EngineSpec spec(GraphKind kind, DevicePrecision precision, long workspaceBytes) {
        return new EngineSpec(precision, workspaceBytes,
                List.of(profile("decode", kind, verifyRows, 1), profile("prefill", kind, prefillRows, prefillRows)));
    }

    private EngineSpec.Profile profile(String name, GraphKind kind, int maxSeq, int optSeq) {
        List<EngineSpec.InputRange> in = new ArrayList<>();
        long maxPast = maxPosition - 1L;
        long optPast = Math.min(maxPast, OPT_PAST);
        switch (kind) {
            case EMBED -> in.add(new EngineSpec.InputRange("input_ids", new long[] {1, 1}, new long[] {1, optSeq},
                    new long[] {1, maxSeq}));
            case HIDDEN_ONLY -> in.add(hidden(maxSeq, optSeq));
            case LAYER, KV_FILL, FEATURE_DRAFTER -> {
                if (kind == GraphKind.FEATURE_DRAFTER) {
                    in.add(rows("feature", maxSeq, optSeq));
                    in.add(rows("embedded", maxSeq, optSeq));
                } else {
                    in.add(hidden(maxSeq, optSeq));
                }
                in.add(new EngineSpec.InputRange("position_ids", new long[] {1, 1}, new long[] {1, optSeq},
                        new long[] {1, maxSeq}));
                if (kind != GraphKind.KV_FILL) {
                    for (String t : new String[] {"past_key", "past_value"}) {
                        in.add(new EngineSpec.InputRange(t, new long[] {1, 0, kvHeads, headDim},
                                new long[] {1, optPast, kvHeads, headDim}, new long[] {1, maxPast, kvHeads, headDim}));
                    }
                }
            }
            default -> throw new AssertionError(kind);
        }
        return new EngineSpec.Profile(name, in);
    }

    private EngineSpec.InputRange hidden(int maxSeq, int optSeq) {
        return rows("hidden", maxSeq, optSeq);
    }

    private EngineSpec.InputRange rows(String name, int maxSeq, int optSeq) {
        return new EngineSpec.InputRange(name, new long[] {1, 1, hiddenSize}, new long[] {1, optSeq, hiddenSize},
                new long[] {1, maxSeq, hiddenSize});
    }
}
