package dev.skipper.core.sampling;

import dev.skipper.api.SamplingOptions;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Chooses the next token from a row of logits.
 *
 * <p>Processing, in this order (the order matters: top-p over a top-k-renormalised distribution is
 * not top-p over the full one, and min-p after top-p differs from min-p before it):
 * <ol>
 *   <li>repetition penalty (CTRL style, each distinct recent token once: a positive logit is divided
 *       by the penalty, a negative one multiplied);
 *   <li>greedy: the argmax, ties to the lowest id; nothing below applies;
 *   <li>temperature: logits divided by it;
 *   <li>top-k: the k most likely tokens;
 *   <li>top-p: the smallest prefix of those, most likely first, whose probability (renormalised over
 *       the top-k survivors) reaches {@code topP};
 *   <li>min-p: drops tokens whose probability is below {@code minP} times the most likely one's;
 *   <li>renormalise and sample with this sampler's {@link SplittableRandom}.
 * </ol>
 * "Most likely first" is a total order: higher penalised logit first, lower id on ties, so top-k
 * keeps exactly k tokens and the same logits always give the same candidate set.
 *
 * <p>{@link #probabilities} writes the distribution of step 7 over the whole vocabulary, using the
 * same code as {@link #next}: speculative decoding builds the draft distribution q and the target
 * distribution p with it, which exact acceptance ({@code min(1, p/q)}) requires.
 *
 * <p>One sampler per session, created for the vocabulary size; {@link #begin(long)} seeds it at the
 * start of each request, so the same seed gives the same tokens. Every working array is allocated
 * in the constructor: {@code next}, {@code probabilities} and {@code sample} allocate nothing.
 * Not thread-safe.
 */
public final class Sampler {
    private final int vocabSize;
    /** [vocab] logits of the current call after the repetition penalty. */
    private final float[] work;
    /** [vocab] exp((work - max) / temperature) of the tokens that are candidates. */
    private final double[] weight;
    /** [vocab] candidate token ids; [0, count) valid; most likely first when top-k/top-p ran. */
    private final int[] order;
    /** [vocab] scratch heap of token ids for top-k / top-p selection. */
    private final int[] heap;
    /** [vocab] per-token stamp: "already penalised in this call" without clearing an array per call. */
    private final int[] seen;
    private int stamp;

    /** Candidates left after filtering. */
    private int count;
    /** Sum of {@link #weight} over the candidates. */
    private double total;

    private SplittableRandom random;

    /**
     * Creates a sampler and its working arrays (about 25 bytes per vocabulary entry).
     *
     * @param vocabSize columns of the logits (the model's vocabulary size)
     */
    public Sampler(int vocabSize) {
        if (vocabSize < 1) {
            throw new IllegalArgumentException("vocabSize must be >= 1, got " + vocabSize);
        }
        this.vocabSize = vocabSize;
        this.work = new float[vocabSize];
        this.weight = new double[vocabSize];
        this.order = new int[vocabSize];
        this.heap = new int[vocabSize];
        this.seen = new int[vocabSize];
    }

    /**
     * The vocabulary size this sampler was made for.
     *
     * @return the number of logits per row
     */
    public int vocabSize() {
        return vocabSize;
    }

    /**
     * Starts a request: seeds the random generator (one allocation per request, none per token).
     *
     * @param seed the request's {@link SamplingOptions#seed()}
     */
    public void begin(long seed) {
        random = new SplittableRandom(seed);
    }

    /**
     * Chooses the next token.
     *
     * @param logits logits; the row used is {@code logits[offset .. offset + vocabSize)}, left unchanged
     * @param offset start of the row (lets a caller pass one row of a [tokens, vocab] batch)
     * @param options how to choose
     * @param recent tokens for the repetition penalty, or {@code null} for none
     * @return the token id
     * @throws IllegalStateException when sampling (not greedy) before {@link #begin(long)}
     * @throws IllegalArgumentException when the logits hold NaN or +infinity, or a recent token is
     *     outside the vocabulary
     */
    public int next(float[] logits, int offset, SamplingOptions options, RecentTokens recent) {
        Objects.checkFromIndexSize(offset, vocabSize, logits.length);
        if (options.greedy() && !penalises(options, recent)) {
            return argmax(logits, offset, vocabSize); // no copy needed when nothing changes the logits
        }
        System.arraycopy(logits, offset, work, 0, vocabSize);
        return choose(options, recent);
    }

    /**
     * Chooses the next token from logits in a buffer (such as an ONNX Runtime output).
     *
     * @param logits logits; the row used is at absolute indices {@code [offset, offset + vocabSize)};
     *     position and contents are left unchanged
     * @param offset start of the row
     * @param options how to choose
     * @param recent tokens for the repetition penalty, or {@code null}
     * @return the token id
     * @see #next(float[], int, SamplingOptions, RecentTokens)
     */
    public int next(FloatBuffer logits, int offset, SamplingOptions options, RecentTokens recent) {
        Objects.checkFromIndexSize(offset, vocabSize, logits.limit());
        dev.skipper.runtime.BufferCopy.get(logits, offset, work, 0, vocabSize);
        return choose(options, recent);
    }

    /**
     * Writes the distribution {@link #next} samples from: zero for every filtered token, the
     * renormalised probability for the others (one-hot at the argmax when greedy). Consumes no
     * random numbers.
     *
     * @param logits logits; row {@code [offset, offset + vocabSize)}, left unchanged
     * @param offset start of the row
     * @param options how tokens are chosen
     * @param recent tokens for the repetition penalty, or {@code null}
     * @param out receives the probabilities at {@code [outOffset, outOffset + vocabSize)}
     * @param outOffset start of the output row
     */
    public void probabilities(float[] logits, int offset, SamplingOptions options, RecentTokens recent,
                              float[] out, int outOffset) {
        Objects.checkFromIndexSize(offset, vocabSize, logits.length);
        System.arraycopy(logits, offset, work, 0, vocabSize);
        distribution(options, recent, out, outOffset);
    }

    /**
     * {@link #probabilities(float[], int, SamplingOptions, RecentTokens, float[], int)} for logits
     * in a buffer.
     *
     * @param logits logits; absolute indices {@code [offset, offset + vocabSize)}, left unchanged
     * @param offset start of the row
     * @param options how tokens are chosen
     * @param recent tokens for the repetition penalty, or {@code null}
     * @param out receives the probabilities at {@code [outOffset, outOffset + vocabSize)}
     * @param outOffset start of the output row
     */
    public void probabilities(FloatBuffer logits, int offset, SamplingOptions options, RecentTokens recent,
                              float[] out, int outOffset) {
        Objects.checkFromIndexSize(offset, vocabSize, logits.limit());
        dev.skipper.runtime.BufferCopy.get(logits, offset, work, 0, vocabSize);
        distribution(options, recent, out, outOffset);
    }

    /**
     * Draws a token from explicit weights, such as the residual {@code max(0, p - q)} of a rejected
     * speculative draft. The weights need not sum to 1.
     *
     * @param weights non-negative weights at {@code [offset, offset + vocabSize)}, not all zero
     * @param offset start of the row
     * @return the token id
     */
    public int sample(float[] weights, int offset) {
        Objects.checkFromIndexSize(offset, vocabSize, weights.length);
        double sum = 0;
        for (int i = 0; i < vocabSize; i++) {
            sum += weights[offset + i];
        }
        if (!(sum > 0) || Double.isInfinite(sum)) {
            throw new IllegalArgumentException("weights must be non-negative, finite and not all zero");
        }
        double u = generator().nextDouble() * sum;
        double cumulative = 0;
        int lastPositive = -1;
        for (int i = 0; i < vocabSize; i++) {
            float w = weights[offset + i];
            if (w > 0) {
                cumulative += w;
                lastPositive = i;
                if (u < cumulative) {
                    return i;
                }
            }
        }
        return lastPositive; // u rounded up to the sum: the last token that has weight
    }

    /**
     * A uniform number in [0, 1) from this request's generator (the acceptance test of speculative
     * sampling draws from it too, so one seed fixes the whole request).
     *
     * @return the number
     */
    public double nextDouble() {
        return generator().nextDouble();
    }

    /**
     * {@code softmax(logits[offset, offset + n))[token]} in double precision (one pass for the
     * maximum, one for the sum); {@code -inf} logits count as probability 0.
     *
     * @param logits logits
     * @param offset start of the row
     * @param n row length
     * @param token index within the row
     * @return the probability
     */
    public static double probabilityOf(float[] logits, int offset, int n, int token) {
        return Math.exp(logSoftmaxAt(logits, offset, n, token));
    }

    /**
     * The probability of the most likely entry of a logit row ({@code 1 / sum exp(l - max)}).
     *
     * @param logits logits
     * @param offset start of the row
     * @param n row length
     * @return the top-1 probability
     */
    public static double topProbability(float[] logits, int offset, int n) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, logits[offset + i]);
        }
        return Math.exp(max - logSumExp(logits, offset, n, max));
    }

    /**
     * {@code log softmax(logits[offset, offset + n))[token]} in double precision.
     *
     * @param logits logits
     * @param offset start of the row
     * @param n row length
     * @param token index within the row
     * @return the log-probability
     */
    public static double logSoftmaxAt(float[] logits, int offset, int n, int token) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, logits[offset + i]);
        }
        return logits[offset + token] - logSumExp(logits, offset, n, max);
    }

    /** {@code log sum exp(row)} given the row's maximum (subtracted for stability). */
    private static double logSumExp(float[] logits, int offset, int n, double max) {
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += Math.exp(logits[offset + i] - max);
        }
        return max + Math.log(sum);
    }

    /**
     * The index of the largest value, the lowest index on ties.
     *
     * @param values values; {@code [offset, offset + n)} are compared
     * @param offset start
     * @param n how many, at least 1
     * @return the winning index relative to {@code offset}
     * @throws IllegalArgumentException when a value is NaN or none is above negative infinity
     */
    public static int argmax(float[] values, int offset, int n) {
        Objects.checkFromIndexSize(offset, n, values.length);
        int best = -1;
        float bestValue = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            float v = values[offset + i];
            if (!(v <= bestValue)) { // one comparison in the common case; true for NaN too
                if (v != v) {
                    throw new IllegalArgumentException("logit " + i + " is NaN");
                }
                bestValue = v; // strict ">": an equal later value never wins
                best = i;
            }
        }
        if (best < 0) {
            throw new IllegalArgumentException("no logit is above negative infinity");
        }
        return best;
    }

    // ---- one call ----------------------------------------------------------------------------------

    private int choose(SamplingOptions options, RecentTokens recent) {
        penalise(options, recent);
        if (options.greedy()) {
            return argmax(work, 0, vocabSize);
        }
        filter(options);
        double u = generator().nextDouble() * total;
        double cumulative = 0;
        int lastPositive = order[0];
        for (int j = 0; j < count; j++) {
            int id = order[j];
            double w = weight[id];
            if (w > 0) {
                cumulative += w;
                lastPositive = id;
                if (u < cumulative) {
                    return id;
                }
            }
        }
        return lastPositive; // u rounded up to the total: the last candidate that has weight
    }

    private void distribution(SamplingOptions options, RecentTokens recent, float[] out, int outOffset) {
        Objects.checkFromIndexSize(outOffset, vocabSize, out.length);
        penalise(options, recent);
        Arrays.fill(out, outOffset, outOffset + vocabSize, 0f);
        if (options.greedy()) {
            out[outOffset + argmax(work, 0, vocabSize)] = 1f;
            return;
        }
        filter(options);
        for (int j = 0; j < count; j++) {
            int id = order[j];
            out[outOffset + id] = (float) (weight[id] / total);
        }
    }

    private SplittableRandom generator() {
        if (random == null) {
            throw new IllegalStateException("call begin(seed) before sampling");
        }
        return random;
    }

    // ---- repetition penalty ------------------------------------------------------------------------

    private static boolean penalises(SamplingOptions options, RecentTokens recent) {
        return options.repetitionPenalty() != 1.0 && recent != null && recent.size() > 0;
    }

    private void penalise(SamplingOptions options, RecentTokens recent) {
        if (!penalises(options, recent)) {
            return;
        }
        double penalty = options.repetitionPenalty();
        int s = nextStamp();
        for (int i = 0, n = recent.size(); i < n; i++) {
            int t = recent.get(i);
            if (t < 0 || t >= vocabSize) {
                throw new IllegalArgumentException("recent token " + t + " is outside the vocabulary of " + vocabSize);
            }
            if (seen[t] != s) { // each distinct token once, however often it repeats
                seen[t] = s;
                float v = work[t];
                work[t] = v > 0 ? (float) (v / penalty) : (float) (v * penalty);
            }
        }
    }

    private int nextStamp() {
        if (++stamp == 0) { // wrapped after 2^32 calls: old stamps could collide, so start over
            Arrays.fill(seen, 0);
            stamp = 1;
        }
        return stamp;
    }

    // ---- temperature, top-k, top-p, min-p ----------------------------------------------------------

    /** Fills order[0, count), weight[] of those ids and total from work[]. */
    private void filter(SamplingOptions options) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocabSize; i++) {
            float v = work[i];
            if (!(v <= max)) {
                if (v != v) {
                    throw new IllegalArgumentException("logit " + i + " is NaN");
                }
                max = v;
            }
        }
        if (!Float.isFinite(max)) {
            throw new IllegalArgumentException(max > 0 ? "a logit is +infinity" : "no logit is above negative infinity");
        }
        double temperature = options.temperature();
        int k = options.topK() > 0 && options.topK() < vocabSize ? options.topK() : 0;
        boolean nucleus = options.topP() < 1.0;
        if (k > 0) {
            selectTopK(k);
            count = k;
            total = 0;
            for (int j = 0; j < k; j++) {
                int id = order[j];
                weight[id] = Math.exp((work[id] - (double) max) / temperature);
                total += weight[id];
            }
            if (nucleus) {
                keepNucleusOfSorted(options.topP());
            }
        } else {
            total = 0;
            for (int i = 0; i < vocabSize; i++) {
                weight[i] = Math.exp((work[i] - (double) max) / temperature);
                total += weight[i];
                order[i] = i;
            }
            count = vocabSize;
            if (nucleus) {
                popNucleus(options.topP());
            }
        }
        if (options.minP() > 0) {
            // The most likely token always survives top-k and top-p and its weight is exp(0) = 1, so
            // "p < minP * p_max" is "weight < minP", whatever the normalisation.
            keepAtLeast(options.minP());
        }
        if (!(total > 0) || Double.isInfinite(total)) {
            throw new IllegalStateException("degenerate distribution (total weight " + total + ")");
        }
    }

    /** order[0, k) = the k most likely ids, most likely first: a bounded min-heap, then heap-sort. */
    private void selectTopK(int k) {
        for (int i = 0; i < k; i++) {
            heap[i] = i;
        }
        for (int i = k / 2 - 1; i >= 0; i--) {
            siftDownMin(i, k);
        }
        for (int id = k; id < vocabSize; id++) {
            if (before(id, heap[0])) { // beats the least likely kept token
                heap[0] = id;
                siftDownMin(0, k);
            }
        }
        for (int size = k; size > 0; size--) { // pop least likely first into the back of order
            order[size - 1] = heap[0];
            heap[0] = heap[size - 1];
            siftDownMin(0, size - 1);
        }
    }

    /** Top-p over order[0, count) already sorted: keeps the shortest prefix reaching topP * total. */
    private void keepNucleusOfSorted(double topP) {
        double target = topP * total;
        double cumulative = 0;
        int m = 0;
        while (m < count && cumulative < target) {
            cumulative += weight[order[m++]];
        }
        count = m;
        total = cumulative;
    }

    /**
     * Top-p without top-k: heapify the ids that can be in the nucleus, pop most likely first until
     * the nucleus is complete.
     */
    private void popNucleus(double topP) {
        double target = topP * total;
        // Tokens lighter than (1 - topP) * total / vocab weigh less than (1 - topP) * total together,
        // so the heavier ones alone pass the target and the nucleus ends among them. Halving the
        // bound leaves room for rounding; it only decides what enters the heap, not what is kept.
        double floor = 0.5 * (1 - topP) * total / vocabSize;
        int size = 0;
        for (int i = 0; i < vocabSize; i++) {
            if (weight[i] >= floor) {
                heap[size++] = i;
            }
        }
        for (int i = size / 2 - 1; i >= 0; i--) {
            siftDownMax(i, size);
        }
        double cumulative = 0;
        int m = 0;
        while (size > 0 && cumulative < target) {
            int id = heap[0];
            order[m++] = id;
            cumulative += weight[id];
            heap[0] = heap[--size];
            siftDownMax(0, size);
        }
        count = m;
        total = cumulative;
    }

    private void keepAtLeast(double minWeight) {
        int m = 0;
        double sum = 0;
        for (int j = 0; j < count; j++) {
            int id = order[j];
            if (weight[id] >= minWeight) {
                order[m++] = id;
                sum += weight[id];
            }
        }
        count = m;
        total = sum;
    }

    /** True when token a ranks before token b: higher penalised logit, lower id on ties. */
    private boolean before(int a, int b) {
        float x = work[a];
        float y = work[b];
        return x > y || (x == y && a < b);
    }

    /** Min-heap by rank: the root is the least likely id. */
    private void siftDownMin(int i, int size) {
        int id = heap[i];
        while (true) {
            int child = 2 * i + 1;
            if (child >= size) {
                break;
            }
            if (child + 1 < size && before(heap[child], heap[child + 1])) {
                child++; // the less likely child
            }
            if (!before(id, heap[child])) {
                break;
            }
            heap[i] = heap[child];
            i = child;
        }
        heap[i] = id;
    }

    /** Max-heap by rank: the root is the most likely id. */
    private void siftDownMax(int i, int size) {
        int id = heap[i];
        while (true) {
            int child = 2 * i + 1;
            if (child >= size) {
                break;
            }
            if (child + 1 < size && before(heap[child + 1], heap[child])) {
                child++; // the more likely child
            }
            if (!before(heap[child], id)) {
                break;
            }
            heap[i] = heap[child];
            i = child;
        }
        heap[i] = id;
    }
}
