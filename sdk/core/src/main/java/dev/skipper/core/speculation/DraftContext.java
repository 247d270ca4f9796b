package dev.skipper.core.speculation;

import dev.skipper.api.SamplingOptions;
import dev.skipper.core.sampling.RecentTokens;
import dev.skipper.core.sampling.Sampler;
import dev.skipper.runtime.spi.HiddenStates;
import dev.skipper.runtime.spi.KvCache;

/**
 * What a {@link Drafter} may read in a round: the sequence so far, its cache and the request's
 * sampling. One per session, updated by the round before each {@link Drafter#propose} (no
 * allocation per round).
 *
 * <p>On entry the sequence's tokens are {@code tokens()[0, length())}; the last is the pending token
 * (known, not yet in the cache), so every layer's cache holds {@code length() - 1} rows.
 */
public final class DraftContext {
    private final KvCache cache;
    private final Sampler sampler;
    private final RecentTokens recent;
    private int[] tokens = new int[0];
    private int length;
    private SamplingOptions sampling = SamplingOptions.GREEDY;
    private HiddenStates features;  // [maxSeq][hidden] the model's last-layer output by position, or null
    private int featuresKnown;
    private double plainStepNanos = Double.NaN; // a plain decoding step, measured; NaN before
    private double verifyRowCost = DEFAULT_VERIFY_ROW_COST;

    /** {@link #verifyRowCost()} before anything was measured: ~17 % of a step per extra row on 2 cores. */
    public static final double DEFAULT_VERIFY_ROW_COST = 0.17;

    /**
     * @param cache the sequence's cache (null for drafters that run no model, in tests)
     * @param sampler the session's sampler (likewise)
     * @param recent the repetition-penalty window (likewise)
     */
    public DraftContext(KvCache cache, Sampler sampler, RecentTokens recent) {
        this.cache = cache;
        this.sampler = sampler;
        this.recent = recent;
    }

    /**
     * Starts a round.
     *
     * @param tokens the sequence's tokens (the array may be longer)
     * @param length tokens known, at least 1
     * @param sampling the request's sampling
     * @return this
     */
    public DraftContext set(int[] tokens, int length, SamplingOptions sampling) {
        if (length < 1 || length > tokens.length) {
            throw new IllegalArgumentException("a round needs a pending token: length " + length + " of "
                    + tokens.length);
        }
        this.tokens = tokens;
        this.length = length;
        this.sampling = sampling;
        return this;
    }

    /**
     * The model's last-layer output by position, for drafters that read the model's own features.
     *
     * @param rows {@code [maxSeq][hidden]}, or null when the runner keeps none
     * @param known positions {@code [0, known)} hold the current sequence's rows
     * @return this
     */
    public DraftContext features(HiddenStates rows, int known) {
        this.features = rows;
        this.featuresKnown = rows == null ? 0 : known;
        return this;
    }

    /**
     * Sets this round's costs as the adaptive controller measures them.
     *
     * @param plainNanos a plain decoding step, nanoseconds (NaN or 0: not measured yet)
     * @param verifyRow one more verified row, as a positive fraction of a plain step
     * @return this
     */
    public DraftContext costs(double plainNanos, double verifyRow) {
        if (!(verifyRow > 0) || Double.isInfinite(verifyRow)) {
            throw new IllegalArgumentException("a verified row's cost must be a positive fraction of a step, got "
                    + verifyRow);
        }
        this.plainStepNanos = plainNanos > 0 ? plainNanos : Double.NaN;
        this.verifyRowCost = verifyRow;
        return this;
    }

    /** @return a plain decoding step in nanoseconds, or NaN before one was measured */
    public double plainStepNanos() {
        return plainStepNanos;
    }

    /** @return one more verified row, as a fraction of a plain step */
    public double verifyRowCost() {
        return verifyRowCost;
    }

    /** @return the last-layer rows by position, or null; read only */
    public HiddenStates features() {
        return features;
    }

    /** @return positions of {@link #features()} that are valid */
    public int featuresKnown() {
        return featuresKnown;
    }

    /** @return the sequence's tokens; {@code [0, length())} valid. Read only. */
    public int[] tokens() {
        return tokens;
    }

    /** @return tokens known */
    public int length() {
        return length;
    }

    /** @return the pending token: {@code tokens()[length() - 1]} */
    public int pending() {
        return tokens[length - 1];
    }

    /** @return the sequence's cache; a drafter may append rows (the verifier drops inexact ones) */
    public KvCache cache() {
        return cache;
    }

    /** @return how tokens are chosen (drafts follow the same processing) */
    public SamplingOptions sampling() {
        return sampling;
    }

    /** @return the session's sampler */
    public Sampler sampler() {
        return sampler;
    }

    /**
     * @return the repetition-penalty window over {@code tokens()[0, length())}; a drafter must
     *     leave it as it found it
     */
    public RecentTokens recent() {
        return recent;
    }
}
