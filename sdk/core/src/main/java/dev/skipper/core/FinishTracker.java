package dev.skipper.core;

import dev.skipper.api.FinishReason;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.TokenListener;
import dev.skipper.core.text.StopStringMatcher;
import dev.skipper.core.tokenizer.StreamingDetokenizer;

/**
 * One request's text and end: each generated token goes through the end-of-sequence check, the
 * streaming detokenizer, the stop-string matcher and the listener, then the token limit; at the end
 * the text held back (an incomplete character, a possible stop-string start) is flushed, and may
 * itself complete a stop string. Not thread-safe: one per request.
 */
final class FinishTracker {
    private final int[] eosIds;
    private final boolean stopAtEos;
    private final int maxNewTokens;
    private final StreamingDetokenizer detokenizer;
    private final StopStringMatcher stops;
    private final TokenListener listener;
    private final StringBuilder text = new StringBuilder();
    private int generated;
    private int lastToken;
    private boolean flushed;

    /**
     * @param eosIds end-of-sequence token ids
     * @param detokenizer the session's streaming detokenizer (flushed by {@link #finish} or {@link #abandon})
     * @param options the request's options (stop strings, limits, whether EOS ends it)
     * @param listener streamed text, or null
     */
    FinishTracker(int[] eosIds, StreamingDetokenizer detokenizer, GenerationOptions options, TokenListener listener) {
        this.eosIds = eosIds;
        this.stopAtEos = options.stopAtEos();
        this.maxNewTokens = options.maxNewTokens();
        this.detokenizer = detokenizer;
        this.stops = new StopStringMatcher(options.stopStrings());
        this.listener = listener;
    }

    /**
     * Takes the next generated token.
     *
     * @param token the token
     * @return why it ends the request, or null when generation goes on
     */
    FinishReason accept(int token) {
        generated++;
        lastToken = token;
        if (stopAtEos && isEos(token)) {
            return FinishReason.EOS;
        }
        emit(stops.feed(detokenizer.push(token)), token);
        if (stops.stopped()) {
            return FinishReason.STOP_STRING;
        }
        return generated == maxNewTokens ? FinishReason.MAX_TOKENS : null;
    }

    /**
     * Ends the stream: emits the held-back text.
     *
     * @param reason why generation stopped
     * @return the reason, or {@link FinishReason#STOP_STRING} when the held-back text completed one
     */
    FinishReason finish(FinishReason reason) {
        String rest = detokenizer.flush();
        flushed = true;
        if (!stops.stopped() && generated > 0) {
            String tail = stops.feed(rest);
            if (stops.stopped()) {
                if (reason != FinishReason.EOS) {
                    reason = FinishReason.STOP_STRING;
                }
            } else {
                tail += stops.flush();
            }
            if (!tail.isEmpty()) {
                emit(tail, lastToken);
            }
        }
        return reason;
    }

    /** After a failure: leaves the detokenizer clean for the next request (no-op after {@link #finish}). */
    void abandon() {
        if (!flushed) {
            detokenizer.flush();
            flushed = true;
        }
    }

    /** @return the text streamed so far */
    String text() {
        return text.toString();
    }

    private boolean isEos(int token) {
        for (int eos : eosIds) {
            if (eos == token) {
                return true;
            }
        }
        return false;
    }

    private void emit(String piece, int token) {
        text.append(piece);
        if (listener != null) {
            listener.onToken(piece, token);
        }
    }
}
