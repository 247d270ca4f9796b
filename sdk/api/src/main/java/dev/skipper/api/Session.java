package dev.skipper.api;

import java.util.List;

/**
 * One conversation: its own KV cache, used by one thread at a time. Multi-turn chat reuses the
 * cache of earlier turns. Close it to free its buffers.
 */
public interface Session extends AutoCloseable {
    /**
     * Generates a continuation of raw text (no chat template), after whatever the session holds.
     *
     * @param prompt text appended to the session
     * @param options generation options
     * @param listener receives streamed text, or {@code null}
     * @return the result
     * @throws ContextOverflowException if the prompt does not fit the context
     * @throws EmptyPromptException if the session is empty and the prompt encodes to no tokens
     * @throws SkipperException on a runtime failure
     */
    GenerationResult generate(String prompt, GenerationOptions options, TokenListener listener) throws SkipperException;

    /**
     * Adds chat turns (rendered with the bundle's chat template) and generates the assistant's
     * reply, which becomes part of the conversation.
     *
     * @param messages new turns since the last call (the first call may start with a system turn)
     * @param options generation options
     * @param listener receives streamed text, or {@code null}
     * @return the reply
     * @throws ContextOverflowException if the conversation does not fit the context
     * @throws SkipperException on a runtime failure
     */
    GenerationResult chat(List<ChatMessage> messages, GenerationOptions options, TokenListener listener) throws SkipperException;

    /**
     * Generates the reply to a whole conversation given at once, the way an OpenAI-style request
     * carries it: the session's own earlier turns are not prepended but replaced by
     * {@code conversation}, and its KV cache keeps the longest token prefix the rendered
     * conversation shares with what it holds (so a client that resends the chat with one more turn
     * only runs the new turn). The output equals that of a fresh session given the conversation.
     *
     * @param conversation every turn so far, oldest first (not empty)
     * @param options generation options
     * @param listener receives streamed text, or {@code null}
     * @return the reply (also recorded as the session's conversation, as {@link #chat} does)
     * @throws ContextOverflowException if the conversation does not fit the context
     * @throws SkipperException on a runtime failure or a bundle without a chat template
     */
    GenerationResult reply(List<ChatMessage> conversation, GenerationOptions options, TokenListener listener)
            throws SkipperException;

    /**
     * Generates a continuation of raw text taken as the whole sequence, as on an empty session
     * (beginning-of-sequence token included where the bundle adds it), keeping the cached prefix it
     * shares with what the session holds. Forgets the chat conversation.
     *
     * @param prompt the whole text (no chat template)
     * @param options generation options
     * @param listener receives streamed text, or {@code null}
     * @return the result
     * @throws ContextOverflowException if the prompt does not fit the context
     * @throws EmptyPromptException if the prompt encodes to no tokens
     * @throws SkipperException on a runtime failure
     */
    GenerationResult complete(String prompt, GenerationOptions options, TokenListener listener) throws SkipperException;

    /**
     * Teacher-forced scoring of a text: for every position the argmax and the log-probability of
     * the actual next token. Does not change the conversation.
     *
     * @param text the text
     * @return per-position figures
     * @throws SkipperException on a runtime failure or a text longer than the context
     */
    ScoreResult score(String text) throws SkipperException;

    /**
     * Teacher-forced scoring of a text under LOSSY adaptive depth against the full model (quality
     * of {@link AdaptiveDepth} at a precision). Does not change the conversation.
     *
     * @param text the text
     * @param depth the adaptive-depth setting (enabled)
     * @param prefix tokens prefilled at full depth before the lossy steps, &gt;= 1
     * @return agreement and perplexities over the positions after the prefix
     * @throws SkipperException on a runtime failure, a text longer than the context or not longer
     *     than the prefix, or a bundle that cannot run adaptive depth
     */
    default AdaptiveDepthScore scoreAdaptiveDepth(String text, AdaptiveDepth depth, int prefix) throws SkipperException {
        throw new UnsupportedOperationException("this session cannot score adaptive depth");
    }

    /** Asks the running generation to stop; it ends within one decode step with {@link FinishReason#CANCELLED}. Thread-safe. */
    void cancel();

    /** Forgets the conversation (the cache length goes to 0). */
    void reset();

    /** @return tokens in the session's cache */
    int length();

    /** @return the context length */
    int contextLength();

    /** Frees the session's buffers; idempotent. */
    @Override
    void close();
}
