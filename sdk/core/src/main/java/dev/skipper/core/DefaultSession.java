package dev.skipper.core;

import dev.skipper.api.ChatMessage;
import dev.skipper.api.FinishReason;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.ScoreResult;
import dev.skipper.api.Session;
import dev.skipper.api.SkipperException;
import dev.skipper.api.TokenListener;
import dev.skipper.core.sampling.Sampler;
import dev.skipper.runtime.spi.ModelRunner;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One conversation on a {@link DefaultEngine}: its own KV cache (the engine's context length),
 * working hidden states of {@link DefaultEngine#PREFILL_CHUNK} rows, logits, sampler and token
 * history.
 *
 * <p><b>Reuse across calls.</b> The session remembers every token it holds. Each request builds
 * the whole token sequence the model should see and keeps the longest prefix it shares with what
 * is cached; only the rest is run. For {@link #generate} that is the cached sequence plus the new
 * text. For {@link #chat} it is the full conversation (earlier turns, the replies as the session
 * returned them, the new turns) rendered with the chat template and encoded: with a template whose
 * rendering of earlier turns does not change (prefix-stable, as ChatML, Llama 2 and Llama 3), the
 * cached turns match and only the new turns run; otherwise the cache is cut where the tokens
 * differ (a debug log says so) and the rest is run again, so the output always equals that of a
 * fresh session given the whole conversation. Comparing tokens rather than text also covers
 * tokenizers whose encoding of a suffix alone differs from its encoding in context (SentencePiece
 * prepends a space, BPE merges across the boundary).
 *
 * <p>Text added with {@link #generate} is not part of the chat conversation: a later
 * {@link #chat} replaces it with the rendered conversation.
 *
 * <p><b>Threads.</b> One request at a time: a call while another thread's request runs fails with
 * {@link IllegalStateException}. {@link #cancel()} may be called from any thread; {@link #close()}
 * cancels the running request and waits for it.
 */
public final class DefaultSession implements Session {
    private final DefaultEngine engine;
    private final Sequence seq;
    private final DecodeLoop loop;
    private final TeacherForcedScorer scorer;
    private final ReentrantLock lock = new ReentrantLock();
    /** The chat so far: every turn given to {@link #chat} and every reply it returned. */
    private final List<ChatMessage> conversation = new ArrayList<>();
    private volatile boolean closed;

    /**
     * Allocates the session's buffers.
     *
     * @param engine the engine
     * @param runner its runner
     * @throws SkipperException if the backend cannot allocate the buffers
     */
    DefaultSession(DefaultEngine engine, ModelRunner runner) throws SkipperException {
        this.engine = engine;
        this.seq = new Sequence(runner, engine.contextLength(), DefaultEngine.PREFILL_CHUNK);
        try {
            this.loop = new DecodeLoop(seq, new Sampler(runner.manifest().model().vocabSize()),
                    engine.tokenizer().newStreamingDetokenizer(), engine.tokenizer().eosIds(), engine.speculation(),
                    engine::constraint);
            this.scorer = new TeacherForcedScorer(runner);
        } catch (RuntimeException e) {
            seq.close();
            throw e;
        }
    }

    /** @return the session's sequence (tests) */
    Sequence sequence() {
        return seq;
    }

    /**
     * {@inheritDoc}
     *
     * <p>The prompt is encoded as is (no chat template). On an empty session it starts with the
     * bundle's beginning-of-sequence token when the bundle says {@code add_bos}; on a non-empty
     * one it continues the sequence without it. If the request is cancelled before its first
     * token, the session is as before the call.
     *
     * @throws IllegalStateException if another thread's request is running or the session is closed
     */
    @Override
    public GenerationResult generate(String prompt, GenerationOptions options, TokenListener listener)
            throws SkipperException {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(options, "options");
        long start = System.nanoTime();
        enter();
        try {
            int[] ids = engine.encode(prompt, seq.length() > 0);
            int[] target = concat(seq.tokens(), ids);
            return loop.run(start, target, options, listener);
        } finally {
            lock.unlock();
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>The reply is added to the conversation as an {@code assistant} turn with the returned
     * text (also when it ended at a stop string, the token limit or a cancel). A request cancelled
     * before its first token, and a failed one, leave the conversation as it was.
     *
     * @throws SkipperException also when the bundle has no chat template or the template fails
     * @throws IllegalArgumentException if {@code messages} is empty
     * @throws IllegalStateException if another thread's request is running or the session is closed
     */
    @Override
    public GenerationResult chat(List<ChatMessage> messages, GenerationOptions options, TokenListener listener)
            throws SkipperException {
        Objects.requireNonNull(options, "options");
        if (messages.isEmpty()) {
            throw new IllegalArgumentException("chat needs at least one new message");
        }
        long start = System.nanoTime();
        enter();
        try {
            List<ChatMessage> all = new ArrayList<>(conversation);
            all.addAll(messages);
            return converse(start, all, options, listener);
        } finally {
            lock.unlock();
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>The conversation and its reply then stand as this session's conversation, as after
     * {@link #chat}; a request cancelled before its first token, and a failed one, leave it as it was.
     *
     * @throws IllegalArgumentException if {@code conversation} is empty
     * @throws IllegalStateException if another thread's request is running or the session is closed
     */
    @Override
    public GenerationResult reply(List<ChatMessage> conversation, GenerationOptions options, TokenListener listener)
            throws SkipperException {
        Objects.requireNonNull(options, "options");
        if (conversation.isEmpty()) {
            throw new IllegalArgumentException("a reply needs at least one message");
        }
        long start = System.nanoTime();
        enter();
        try {
            return converse(start, List.copyOf(conversation), options, listener);
        } finally {
            lock.unlock();
        }
    }

    /** The reply to a whole conversation (the lock held); it becomes the session's conversation. */
    private GenerationResult converse(long start, List<ChatMessage> all, GenerationOptions options,
                                      TokenListener listener) throws SkipperException {
        ChatTemplate template = engine.chatTemplate().orElseThrow(() -> new SkipperException(
                "the bundle " + engine.manifest().directory() + " has no chat template; use generate() or complete() "
                        + "with text already in the model's chat format"));
        int[] target = engine.encode(template.render(all, true), false);
        GenerationResult result = loop.run(start, target, options, listener);
        if (result.finishReason() != FinishReason.CANCELLED || result.tokenIds().length > 0) {
            conversation.clear();
            conversation.addAll(all);
            conversation.add(new ChatMessage("assistant", result.text()));
        }
        return result;
    }

    /**
     * {@inheritDoc}
     *
     * @throws IllegalStateException if another thread's request is running or the session is closed
     */
    @Override
    public GenerationResult complete(String prompt, GenerationOptions options, TokenListener listener)
            throws SkipperException {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(options, "options");
        long start = System.nanoTime();
        enter();
        try {
            conversation.clear();
            return loop.run(start, engine.encode(prompt, false), options, listener);
        } finally {
            lock.unlock();
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>The text is encoded as on an empty session (with the beginning-of-sequence token when the
     * bundle says {@code add_bos}) and scored in a temporary cache.
     *
     * @throws dev.skipper.api.ContextOverflowException if the text is longer than the context
     * @throws IllegalStateException if another thread's request is running or the session is closed
     */
    @Override
    public ScoreResult score(String text) throws SkipperException {
        Objects.requireNonNull(text, "text");
        return score(engine.encode(text, false));
    }

    @Override
    public dev.skipper.api.AdaptiveDepthScore scoreAdaptiveDepth(String text, dev.skipper.api.AdaptiveDepth depth,
                                                                 int prefix) throws SkipperException {
        Objects.requireNonNull(text, "text");
        if (!depth.enabled()) {
            throw new IllegalArgumentException("scoreAdaptiveDepth needs an enabled adaptive-depth setting");
        }
        int[] ids = engine.encode(text, false);
        if (prefix < 1 || ids.length <= prefix) {
            throw new SkipperException("adaptive-depth scoring needs more than " + prefix + " tokens of text, got "
                    + ids.length);
        }
        ScoreResult full = score(ids);
        enter();
        dev.skipper.runtime.spi.ModelRunner runner = engine.runner();
        try (Sequence tmp = new Sequence(runner, ids.length, Math.max(1, Math.min(seq.chunk(), prefix)));
             AdaptiveDepthStep step = new AdaptiveDepthStep(tmp, depth.precision())) {
            tmp.append(ids, 0, prefix);
            tmp.observeLayerInputs(step.promptObserver()); // per-sequence skipping, as generation does
            tmp.run(null);
            tmp.observeLayerInputs(null);
            step.begin();
            int vocab = runner.manifest().model().vocabSize();
            int agree = 0;
            double lossy = 0;
            double reference = 0;
            int scored = 0;
            for (int pos = prefix - 1; pos < ids.length - 1; pos++) {
                if (pos > prefix - 1) {
                    tmp.append(ids[pos]);
                    step.step();
                }
                float[] logits = tmp.logits();
                agree += dev.skipper.core.sampling.Sampler.argmax(logits, 0, vocab) == full.argmax()[pos] ? 1 : 0;
                lossy += dev.skipper.core.sampling.Sampler.logSoftmaxAt(logits, 0, vocab, ids[pos + 1]);
                reference += full.logprobs()[pos];
                scored++;
            }
            return new dev.skipper.api.AdaptiveDepthScore(prefix, (double) agree / scored, Math.exp(-lossy / scored),
                    Math.exp(-reference / scored), step.stats());
        } finally {
            lock.unlock();
        }
    }

    /**
     * Teacher-forced scoring of token ids (see {@link #score(String)}).
     *
     * @param ids the tokens, each below the model's vocabulary size
     * @return per-position figures
     * @throws SkipperException on a runtime failure or more tokens than the context
     * @throws IllegalStateException if another thread's request is running or the session is closed
     */
    public ScoreResult score(int[] ids) throws SkipperException {
        enter();
        try {
            return scorer.score(ids.clone(), seq.contextLength(), seq.hidden());
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void cancel() {
        loop.cancel();
    }

    /**
     * {@inheritDoc}
     *
     * <p>Also forgets the chat conversation.
     *
     * @throws IllegalStateException if another thread's request is running or the session is closed
     */
    @Override
    public void reset() {
        enter();
        try {
            seq.rewind(0);
            conversation.clear();
            loop.reset();
        } finally {
            lock.unlock();
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>The last generated token is not in the cache until the next request runs it.
     */
    @Override
    public int length() {
        return seq.cached();
    }

    @Override
    public int contextLength() {
        return seq.contextLength();
    }

    /**
     * The chat so far.
     *
     * @return every turn given to {@link #chat} and every reply, oldest first (a copy)
     */
    public List<ChatMessage> conversation() {
        lock.lock();
        try {
            return List.copyOf(conversation);
        } finally {
            lock.unlock();
        }
    }

    /** Cancels a running request, waits for it to stop, and frees the buffers. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        loop.cancel();
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            try {
                loop.close();
            } finally {
                seq.close();
            }
        } finally {
            lock.unlock();
            engine.forget(this);
        }
    }

    /** Takes the session for one request, or fails at once if it is busy or closed. */
    private void enter() {
        if (!lock.tryLock()) {
            throw new IllegalStateException("the session is running a request on another thread");
        }
        if (closed) {
            lock.unlock();
            throw new IllegalStateException("the session is closed");
        }
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
