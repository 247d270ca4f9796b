package dev.skipper.android;

import dev.skipper.api.ChatMessage;
import dev.skipper.api.Engine;
import dev.skipper.api.FinishReason;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.GenerationStats;
import dev.skipper.api.ModelInfo;
import dev.skipper.api.ScoreResult;
import dev.skipper.api.Session;
import dev.skipper.api.TokenListener;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/** An engine whose session "generates" {@code pieces} tokens, {@code delayMs} apart, and honours cancel. */
final class FakeEngine implements Engine {
    final List<String> pieces;
    final long delayMs;
    final AtomicInteger sessionsOpened = new AtomicInteger();
    volatile boolean closed;
    volatile FakeSession last;

    FakeEngine(List<String> pieces, long delayMs) {
        this.pieces = pieces;
        this.delayMs = delayMs;
    }

    @Override
    public ModelInfo model() {
        throw new UnsupportedOperationException("not used by the sample");
    }

    @Override
    public String backendName() {
        return "fake";
    }

    @Override
    public Session newSession() {
        sessionsOpened.incrementAndGet();
        last = new FakeSession();
        return last;
    }

    @Override
    public void close() {
        closed = true;
    }

    final class FakeSession implements Session {
        final List<String> userTurns = Collections.synchronizedList(new ArrayList<>());
        final List<String> generatingThreads = Collections.synchronizedList(new ArrayList<>());
        final List<String> events = Collections.synchronizedList(new ArrayList<>()); // "chat", "reset", in order
        volatile boolean cancelled;
        volatile boolean closed;
        volatile int resets;

        @Override
        public GenerationResult chat(List<ChatMessage> messages, GenerationOptions options, TokenListener listener) {
            cancelled = false; // as the real session: a request starts uncancelled
            events.add("chat");
            generatingThreads.add(Thread.currentThread().getName());
            messages.forEach(m -> userTurns.add(m.content()));
            StringBuilder text = new StringBuilder();
            int n = 0;
            for (String p : pieces) {
                if (cancelled) {
                    break;
                }
                if (delayMs > 0) {
                    try {
                        Thread.sleep(delayMs);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        break;
                    }
                }
                text.append(p);
                n++;
                listener.onToken(p, n);
            }
            FinishReason why = cancelled ? FinishReason.CANCELLED : FinishReason.MAX_TOKENS;
            return new GenerationResult(text.toString(), new int[n], why, new GenerationStats(3, n, 1, 100, 50));
        }

        @Override
        public GenerationResult generate(String prompt, GenerationOptions options, TokenListener listener) {
            throw new UnsupportedOperationException();
        }

        @Override
        public GenerationResult reply(List<ChatMessage> conversation, GenerationOptions options, TokenListener listener) {
            throw new UnsupportedOperationException();
        }

        @Override
        public GenerationResult complete(String prompt, GenerationOptions options, TokenListener listener) {
            throw new UnsupportedOperationException();
        }

        @Override
        public ScoreResult score(String text) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void cancel() {
            cancelled = true;
        }

        @Override
        public void reset() {
            events.add("reset");
            resets++;
        }

        @Override
        public int length() {
            return 0;
        }

        @Override
        public int contextLength() {
            return 512;
        }

        @Override
        public void close() {
            closed = true;
        }
    }
}
