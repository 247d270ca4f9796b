package dev.skipper.cli;

import dev.skipper.api.ChatMessage;
import dev.skipper.api.Engine;
import dev.skipper.api.FinishReason;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.GenerationStats;
import dev.skipper.api.ModelInfo;
import dev.skipper.api.ScoreResult;
import dev.skipper.api.Session;
import dev.skipper.api.SkipperException;
import dev.skipper.api.TokenListener;
import dev.skipper.core.config.DeploymentConfig;
import java.util.ArrayList;
import java.util.List;

/** An engine that records what the CLI asked for and answers with canned text. */
final class FakeEngine implements Engine, EngineOpener {
    DeploymentConfig config;
    final List<String> calls = new ArrayList<>();
    final List<GenerationOptions> options = new ArrayList<>();
    final List<List<ChatMessage>> chats = new ArrayList<>();
    SkipperException failOpen;
    SkipperException failGenerate;
    boolean closed;
    String reply = "Paris é\n";

    @Override
    public Engine open(DeploymentConfig c) throws SkipperException {
        if (failOpen != null) {
            throw failOpen;
        }
        config = c;
        return this;
    }

    @Override
    public ModelInfo model() {
        return null;
    }

    @Override
    public String backendName() {
        return "fake";
    }

    @Override
    public Session newSession() {
        return new FakeSession();
    }

    @Override
    public void close() {
        closed = true;
    }

    private GenerationResult answer(String prompt, GenerationOptions o, TokenListener l) throws SkipperException {
        options.add(o);
        if (failGenerate != null) {
            throw failGenerate;
        }
        int[] ids = new int[reply.length()];
        for (int i = 0; i < reply.length(); i++) {
            ids[i] = reply.charAt(i);
            if (l != null) {
                l.onToken(String.valueOf(reply.charAt(i)), ids[i]);
            }
        }
        return new GenerationResult(reply, ids, FinishReason.MAX_TOKENS,
                new GenerationStats(prompt.length(), ids.length, 12.5, 100.0, Double.NaN));
    }

    final class FakeSession implements Session {
        @Override
        public GenerationResult generate(String prompt, GenerationOptions o, TokenListener l) throws SkipperException {
            calls.add("generate:" + prompt);
            return answer(prompt, o, l);
        }

        @Override
        public GenerationResult chat(List<ChatMessage> messages, GenerationOptions o, TokenListener l)
                throws SkipperException {
            calls.add("chat:" + messages.get(messages.size() - 1).content());
            chats.add(List.copyOf(messages));
            return answer(messages.get(messages.size() - 1).content(), o, l);
        }

        @Override
        public GenerationResult reply(List<ChatMessage> conversation, GenerationOptions o, TokenListener l)
                throws SkipperException {
            calls.add("reply:" + conversation.get(conversation.size() - 1).content());
            chats.add(List.copyOf(conversation));
            return answer(conversation.get(conversation.size() - 1).content(), o, l);
        }

        @Override
        public GenerationResult complete(String prompt, GenerationOptions o, TokenListener l) throws SkipperException {
            calls.add("complete:" + prompt);
            return answer(prompt, o, l);
        }

        @Override
        public ScoreResult score(String text) {
            calls.add("score:" + text);
            return new ScoreResult(new int[] {5, 6, 7}, new int[] {6, 9}, new double[] {-0.5, -1.5}, Math.exp(1.0));
        }

        @Override
        public void cancel() {
            calls.add("cancel");
        }

        @Override
        public void reset() {
            calls.add("reset");
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
        }
    }
}
