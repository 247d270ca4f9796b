package dev.skipper.server;

import dev.skipper.api.ChatMessage;
import dev.skipper.api.Engine;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.ModelInfo;
import dev.skipper.api.ScoreResult;
import dev.skipper.api.Session;
import dev.skipper.api.SkipperException;
import dev.skipper.api.TokenListener;
import java.util.List;

/**
 * A real engine whose sessions pause after every generated token, so tests of the queue, of
 * disconnects and of shutdown see a generation that is still running, on any machine.
 */
final class SlowEngine implements Engine {
    private final Engine engine;
    private final long pauseMillis;

    SlowEngine(Engine engine, long pauseMillis) {
        this.engine = engine;
        this.pauseMillis = pauseMillis;
    }

    @Override
    public ModelInfo model() {
        return engine.model();
    }

    @Override
    public String backendName() {
        return engine.backendName();
    }

    @Override
    public Session newSession() throws SkipperException {
        Session s = engine.newSession();
        return new Session() {
            private TokenListener slow(TokenListener l) {
                return (text, id) -> {
                    if (l != null) {
                        l.onToken(text, id);
                    }
                    try {
                        Thread.sleep(pauseMillis);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                };
            }

            @Override
            public GenerationResult generate(String prompt, GenerationOptions o, TokenListener l)
                    throws SkipperException {
                return s.generate(prompt, o, slow(l));
            }

            @Override
            public GenerationResult chat(List<ChatMessage> m, GenerationOptions o, TokenListener l)
                    throws SkipperException {
                return s.chat(m, o, slow(l));
            }

            @Override
            public GenerationResult reply(List<ChatMessage> m, GenerationOptions o, TokenListener l)
                    throws SkipperException {
                return s.reply(m, o, slow(l));
            }

            @Override
            public GenerationResult complete(String prompt, GenerationOptions o, TokenListener l)
                    throws SkipperException {
                return s.complete(prompt, o, slow(l));
            }

            @Override
            public ScoreResult score(String text) throws SkipperException {
                return s.score(text);
            }

            @Override
            public void cancel() {
                s.cancel();
            }

            @Override
            public void reset() {
                s.reset();
            }

            @Override
            public int length() {
                return s.length();
            }

            @Override
            public int contextLength() {
                return s.contextLength();
            }

            @Override
            public void close() {
                s.close();
            }
        };
    }

    @Override
    public void close() {
        // the wrapped engine belongs to the test
    }
}
