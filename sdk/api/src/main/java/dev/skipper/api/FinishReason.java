package dev.skipper.api;

/** Why a generation ended. */
public enum FinishReason {
    /** The model produced an end-of-sequence token. */
    EOS,
    /** A stop string matched (it is not part of the returned text). */
    STOP_STRING,
    /** {@link GenerationOptions#maxNewTokens()} tokens were generated. */
    MAX_TOKENS,
    /** {@link Session#cancel()} was called. */
    CANCELLED,
    /** The session's context is full. */
    CONTEXT_FULL
}
