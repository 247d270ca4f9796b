package dev.skipper.core;

import dev.skipper.api.ContextOverflowException;
import dev.skipper.api.EmptyPromptException;
import dev.skipper.api.FinishReason;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.GenerationStats;
import dev.skipper.api.SamplingOptions;
import dev.skipper.api.SkipperException;
import dev.skipper.api.AdaptiveDepth;
import dev.skipper.api.SpeculationMode;
import dev.skipper.api.TokenListener;
import dev.skipper.core.config.SpeculationConfig;
import dev.skipper.core.sampling.Sampler;
import dev.skipper.core.tokenizer.StreamingDetokenizer;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.Map;

/**
 * Autoregressive generation for one session: prompt in, tokens out, one request at a time.
 *
 * <p>{@link #run} reads top to bottom:
 * <ol>
 *   <li>context check: the whole sequence (cached conversation + new prompt) must fit, or a
 *       {@link ContextOverflowException} names both numbers and nothing changes;
 *   <li>prefix reuse: tokens the request shares with the session's sequence stay cached;
 *   <li>prefill: the rest runs in chunks, the head only on the last row;
 *   <li>decode: the first token from the prefill logits, then steps of the request's
 *       {@link DecodeStrategy} (plain, speculative or adaptive depth), each token through the
 *       {@link FinishTracker} (end of sequence, stop strings, listener, limits), cancellation.
 * </ol>
 *
 * <p>The last sampled token is not fed at the end of a request: it stays known-but-not-run in the
 * {@link Sequence}, and the next request runs it first, so the conversation continues exactly.
 *
 * <p>Per token, the loop allocates nothing of its own: the sequence, sampler, logits and output
 * array are preallocated; only the text pieces (strings) are new. Not thread-safe, except
 * {@link #cancel()}.
 */
final class DecodeLoop {
    // java.util.logging, not System.Logger: Android has no System.Logger (System.Logger goes to
    // java.util.logging on a JDK anyway, so the desktop sees no difference)
    private static final java.util.logging.Logger LOG = java.util.logging.Logger.getLogger(DecodeLoop.class.getName());

    private final Sequence seq;
    private final Sampler sampler;
    private final StreamingDetokenizer detokenizer;
    /** The bundle's end-of-sequence ids. */
    private final int[] eosIds;

    /** The session's speculation settings (the mode a request gets when it names none). */
    private final SpeculationConfig speculation;
    /** One full step per token: what a request gets without speculation or adaptive depth. */
    private final PlainDecoding plain;
    /** Speculative decoders by mode, made when a request first uses the mode. */
    private final Map<SpeculationMode, SpeculativeDecoder> decoders = new EnumMap<>(SpeculationMode.class);
    /** Lossy adaptive-depth decoding by precision, made when a request first uses one. */
    private final Map<Double, AdaptiveDepthDecoding> depthSteps = new HashMap<>();

    /** Opens a request's grammar constraint (the engine's compiled schemas and token bytes). */
    @FunctionalInterface
    interface Constraints {
        /**
         * @param format a JSON response format
         * @return its constraint at the document's start
         * @throws SkipperException if it cannot be enforced
         */
        dev.skipper.core.constrained.Constraint open(dev.skipper.api.ResponseFormat format) throws SkipperException;
    }

    private final Constraints constraints;

    /** Set by {@link #cancel()} from any thread; cleared when a request starts. */
    private volatile boolean cancelled;

    /**
     * @param seq the session's sequence
     * @param sampler the session's sampler (model vocabulary)
     * @param detokenizer the session's streaming detokenizer (flushed at the end of every request)
     * @param eosIds end-of-sequence token ids
     * @param speculation the session's speculation settings
     */
    DecodeLoop(Sequence seq, Sampler sampler, StreamingDetokenizer detokenizer, int[] eosIds,
               SpeculationConfig speculation, Constraints constraints) {
        this.constraints = constraints;
        this.speculation = speculation;
        this.seq = seq;
        this.sampler = sampler;
        this.detokenizer = detokenizer;
        this.eosIds = eosIds.clone();
        this.plain = new PlainDecoding(seq, sampler);
    }

    /** Asks the running request to stop at its next check (before each prefill chunk and each step). */
    void cancel() {
        cancelled = true;
    }

    /**
     * Generates after {@code target}, the full token sequence the session should hold.
     *
     * @param startNanos {@link System#nanoTime()} when the caller's request began (for the TTFT)
     * @param target the whole sequence: what the session should hold before the first new token
     * @param options generation options
     * @param listener streamed text, or {@code null}
     * @return the result
     * @throws ContextOverflowException if {@code target} does not fit the context (session unchanged)
     * @throws EmptyPromptException if {@code target} is empty
     * @throws SkipperException on a backend failure
     */
    GenerationResult run(long startNanos, int[] target, GenerationOptions options, TokenListener listener)
            throws SkipperException {
        cancelled = false;
        if (target.length == 0) {
            throw new EmptyPromptException();
        }

        // 1. Context check: everything must fit; nothing is truncated and the session is unchanged.
        if (target.length > seq.contextLength()) {
            throw new ContextOverflowException(target.length, seq.contextLength());
        }

        // Structured output: the grammar (compiled before any work; a bad schema changes nothing).
        // Plain steps mask the next token's logits; speculative rounds mask every verification row
        // along the drafts (Verifier), so constrained speculative output equals constrained plain output.
        dev.skipper.core.constrained.Constraint constraint = options.format().kind()
                == dev.skipper.api.ResponseFormat.Kind.TEXT ? null : constraints.open(options.format());

        // The request's strategy (made on first use; one that does not fit fails before any work).
        DecodeStrategy strategy = strategy(options);

        // 2. Keep the cached prefix the target shares with the session; append the rest.
        int keep = seq.commonPrefix(target);
        if (keep < seq.cached() && LOG.isLoggable(java.util.logging.Level.FINE)) {
            LOG.log(java.util.logging.Level.FINE, "the prompt differs from the cached sequence after {0} of {1} "
                    + "tokens; re-running from there", new Object[] {keep, seq.cached()});
        }
        seq.rewind(keep);
        if (strategy.usesFeatures()) {
            seq.needFeatures();
        }
        seq.append(target, keep, target.length);

        // 3. Prefill: every token not cached yet, in chunks; logits of the last one. A FiRST-routed
        // decoder pools the prompt's layer inputs on the way.
        long prefillStart = System.nanoTime();
        int promptTokens = seq.ensureSomethingToRun();
        boolean prefilled;
        try {
            seq.observeLayerInputs(strategy.promptObserver());
            prefilled = seq.run(this::isCancelled);
        } catch (SkipperException | RuntimeException e) {
            seq.rewind(keep);
            throw e;
        } finally {
            seq.observeLayerInputs(null); // decode steps and rounds are not observed
        }
        if (!prefilled) {
            seq.rewind(keep); // as before the request (minus what did not match it)
            return new GenerationResult("", new int[0], FinishReason.CANCELLED,
                    new GenerationStats(promptTokens, 0, 0, 0, 0));
        }
        long prefillEnd = System.nanoTime();

        // 4. Decode: the first token from the prefill logits, then the strategy's steps (one token,
        // or speculative rounds that produce several at once).
        SamplingOptions sampling = options.sampling();
        sampler.begin(sampling.seed());
        seq.constrain(constraint);
        strategy.begin();
        int[] step = new int[strategy.maxTokensPerStep()]; // [tokens of one step]
        FinishTracker finish = new FinishTracker(eosIds, detokenizer, options, listener);
        int[] out = new int[Math.min(options.maxNewTokens(), seq.contextLength() + 1 - seq.length())]; // [generated]
        int n = 0;
        long firstNanos = 0;
        long lastNanos = 0;
        FinishReason reason;
        try {
            outer:
            while (true) {
                if (cancelled) {
                    reason = FinishReason.CANCELLED;
                    break;
                }
                int count;
                if (n == 0) {
                    step[0] = seq.sampleNext(sampler, sampling);
                    seq.append(step[0]); // known, not run: the next step (or request) feeds it
                    count = 1;
                } else {
                    count = strategy.step(sampling, out.length - n, step);
                }
                for (int j = 0; j < count; j++) {
                    int token = step[j];
                    out[n++] = token;
                    lastNanos = System.nanoTime();
                    if (n == 1) {
                        firstNanos = lastNanos;
                    }
                    if (constraint != null) {
                        constraint.advance(token);
                    }
                    FinishReason end = finish.accept(token);
                    if (end == null && constraint != null && constraint.finished()) {
                        end = FinishReason.EOS; // the document is complete: nothing may follow
                    }
                    if (end != null) {
                        // Tokens of the step after this one were never seen: as plain decoding would
                        // have left it, this token is the pending one.
                        if (j < count - 1) {
                            seq.rewindPending(seq.length() - (count - 1 - j));
                        }
                        reason = end;
                        break outer;
                    }
                }
                if (seq.cached() == seq.contextLength()) { // no room to feed the pending token
                    reason = FinishReason.CONTEXT_FULL;
                    break;
                }
            }
            reason = finish.finish(reason);
        } finally {
            seq.constrain(null);
            finish.abandon(); // an exception ended the stream: start the next one clean
        }

        double ttftMillis = n > 0 ? (firstNanos - startNanos) / 1e6 : 0;
        double prefillRate = promptTokens / seconds(prefillEnd - prefillStart);
        double decodeRate = n > 1 ? (n - 1) / seconds(lastNanos - firstNanos) : 0;
        return new GenerationResult(finish.text(), Arrays.copyOf(out, n), reason,
                new GenerationStats(promptTokens, n, ttftMillis, prefillRate, decodeRate,
                        strategy.speculationStats(n), strategy.adaptiveDepthStats()));
    }

    /**
     * The request's strategy: its speculation mode (else the session's), and when that is off its
     * adaptive-depth setting (else the session's), and when that is off plain decoding.
     */
    private DecodeStrategy strategy(GenerationOptions options) throws SkipperException {
        SpeculativeDecoder spec = decoder(options.speculation() != null ? options.speculation() : speculation.mode());
        if (spec != null) {
            return spec;
        }
        AdaptiveDepthDecoding depth = depthStep(options.adaptiveDepth() != null ? options.adaptiveDepth()
                : speculation.adaptiveDepth());
        return depth != null ? depth : plain;
    }

    /**
     * The session's decoder for a mode, made on first use.
     *
     * @param mode the request's mode
     * @return the decoder, or {@code null} for {@link SpeculationMode#OFF}
     * @throws SkipperException if the mode does not fit the model or its buffers cannot be allocated
     */
    private SpeculativeDecoder decoder(SpeculationMode mode) throws SkipperException {
        if (mode == SpeculationMode.OFF) {
            return null;
        }
        SpeculativeDecoder d = decoders.get(mode);
        if (d == null) {
            d = new SpeculativeDecoder(seq, sampler, speculation.withMode(mode), true);
            decoders.put(mode, d);
        }
        return d;
    }

    /**
     * The session's adaptive-depth step for a setting, made on first use.
     *
     * @param setting the request's setting
     * @return the step, or {@code null} when adaptive depth is off
     * @throws SkipperException if the bundle cannot run adaptive depth
     */
    private AdaptiveDepthDecoding depthStep(AdaptiveDepth setting) throws SkipperException {
        if (!setting.enabled()) {
            return null;
        }
        AdaptiveDepthDecoding d = depthSteps.get(setting.precision());
        if (d == null) {
            d = new AdaptiveDepthDecoding(seq, sampler, new AdaptiveDepthStep(seq, setting.precision()));
            depthSteps.put(setting.precision(), d);
        }
        return d;
    }

    /** Forgets the decoders' switch-off decisions (the session was reset). */
    void reset() {
        for (SpeculativeDecoder d : decoders.values()) {
            d.reset();
        }
    }

    /** Frees the decoders' buffers. */
    void close() {
        for (SpeculativeDecoder d : decoders.values()) {
            d.close();
        }
        decoders.clear();
        for (AdaptiveDepthDecoding d : depthSteps.values()) {
            d.close();
        }
        depthSteps.clear();
    }

    private boolean isCancelled() {
        return cancelled;
    }

    private static double seconds(long nanos) {
        return Math.max(nanos, 1) / 1e9;
    }
}
