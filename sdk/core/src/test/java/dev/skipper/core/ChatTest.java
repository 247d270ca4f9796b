package dev.skipper.core;

import dev.skipper.api.ChatMessage;
import dev.skipper.api.ContextOverflowException;
import dev.skipper.api.FinishReason;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.bundle.BundleManifestReader;
import dev.skipper.core.tokenizer.Tokenizers;
import dev.skipper.ort.OrtBackendProvider;
import dev.skipper.runtime.spi.BackendOptions;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Multi-turn chat: KV reuse across turns, and equality with a fresh session given the whole conversation. */
class ChatTest {
    static final List<String> TINY_CASES = EngineTestData.TINY_CASES;

    private static int[] render(DefaultEngine engine, List<ChatMessage> conversation) throws Exception {
        return engine.encode(engine.chatTemplate().orElseThrow().render(conversation, true), false);
    }

    private static List<ChatMessage> with(List<ChatMessage> conversation, ChatMessage... more) {
        List<ChatMessage> all = new ArrayList<>(conversation);
        all.addAll(List.of(more));
        return all;
    }

    /**
     * Three turns on one session; each later turn runs only its new tokens (plus the last reply
     * token, not yet run) and equals a fresh session given the whole conversation.
     */
    @Test
    void laterTurnsRunOnlyTheirNewTokensAndEqualAFreshSession() throws Exception {
        DefaultEngine engine = EngineTestData.engine("smollm2-fp32");
        GenerationOptions options = GenerationOptions.greedy(40);
        try (DefaultSession session = engine.newSession()) {
            List<ChatMessage> conversation = new ArrayList<>();
            ChatMessage[] turns = {
                ChatMessage.user("What is the capital of France?"),
                ChatMessage.user("And of Germany?"),
                ChatMessage.user("Name one river in each."),
            };
            for (int t = 0; t < turns.length; t++) {
                int before = session.length();
                List<ChatMessage> all = with(conversation, turns[t]);
                int[] whole = render(engine, all);
                GenerationResult r = session.chat(List.of(turns[t]), options, null);
                assertEquals(whole.length - before, r.stats().promptTokens(), "turn " + t + ": tokens run");
                if (t > 0) {
                    assertTrue(r.stats().promptTokens() < 40, "turn " + t + " reused the cache: " + r.stats());
                }
                conversation = with(all, new ChatMessage("assistant", r.text()));
                assertEquals(conversation, session.conversation());

                try (DefaultSession fresh = engine.newSession()) {
                    GenerationResult f = fresh.chat(all, options, null);
                    assertEquals(whole.length, f.stats().promptTokens());
                    assertArrayEquals(f.tokenIds(), r.tokenIds(), "turn " + t + " equals a fresh session");
                    assertEquals(f.text(), r.text());
                    assertEquals(f.finishReason(), r.finishReason());
                }
            }
            assertTrue(session.conversation().get(1).content().contains("Paris"), session.conversation().toString());
        }
    }

    /** Whatever the replies' tokenization, a reused session's turn equals a fresh session's. */
    @ParameterizedTest
    @FieldSource("TINY_CASES")
    void reusedSessionsEqualFreshSessionsOnEveryTokenizer(String name) throws Exception {
        DefaultEngine engine = EngineTestData.engine(name);
        GenerationOptions options = EngineTestData.greedyNoEos(12);
        try (DefaultSession session = engine.newSession()) {
            List<ChatMessage> conversation = new ArrayList<>();
            for (String question : List.of("Hello there, how are you?", "Tell me more.", "Thanks!")) {
                List<ChatMessage> all = with(conversation, ChatMessage.user(question));
                GenerationResult r = session.chat(List.of(ChatMessage.user(question)), options, null);
                assertTrue(r.stats().promptTokens() <= render(engine, all).length);
                try (DefaultSession fresh = engine.newSession()) {
                    assertArrayEquals(fresh.chat(all, options, null).tokenIds(), r.tokenIds(), name + ": " + question);
                }
                conversation = with(all, new ChatMessage("assistant", r.text()));
            }
        }
    }

    /** A template whose earlier turns change with later ones: the session re-runs from the first difference. */
    @Test
    void aTemplateThatIsNotPrefixStableFallsBackToRerunning() throws Exception {
        String unstable = "{{ '<|im_start|>system\\n' + (messages|length|string) + ' messages<|im_end|>\\n' }}"
                + "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
                + "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
        BundleManifest manifest = BundleManifestReader.read(EngineTestData.bundle("smollm2-int4"), false);
        try (DefaultEngine engine = new DefaultEngine(
                new OrtBackendProvider().open(manifest.directory(), manifest, BackendOptions.DEFAULTS), "cpu", null,
                Tokenizers.open(manifest), new ChatTemplate(unstable, "", ""), 256);
             DefaultSession session = engine.newSession()) {
            GenerationOptions options = GenerationOptions.greedy(24);
            GenerationResult first = session.chat(List.of(ChatMessage.user("What is the capital of France?")), options,
                    null);
            List<ChatMessage> all = with(session.conversation(), ChatMessage.user("And of Italy?"));
            int[] whole = render(engine, all);
            GenerationResult second = session.chat(List.of(ChatMessage.user("And of Italy?")), options, null);
            // "1 messages" became "3 messages" near the start: almost everything ran again.
            assertTrue(second.stats().promptTokens() > whole.length - 5, second.stats().toString());
            try (DefaultSession fresh = engine.newSession()) {
                assertArrayEquals(fresh.chat(all, options, null).tokenIds(), second.tokenIds());
            }
            assertTrue(first.tokenIds().length > 0);
        }
    }

    @Test
    void aConversationThatDoesNotFitLeavesTheSessionAsItWas() throws Exception {
        DefaultEngine engine = EngineTestData.engine("tiny-bpe-fp32");
        try (DefaultSession session = engine.newSession()) {
            GenerationResult r = session.chat(List.of(ChatMessage.user("hi")), EngineTestData.greedyNoEos(4), null);
            assertEquals(FinishReason.MAX_TOKENS, r.finishReason());
            List<ChatMessage> before = session.conversation();
            int length = session.length();
            ChatMessage huge = ChatMessage.user("word ".repeat(2000));
            ContextOverflowException e = assertThrows(ContextOverflowException.class,
                    () -> session.chat(List.of(huge), GenerationOptions.greedy(4), null));
            assertEquals(EngineTestData.CONTEXT, e.contextLength());
            assertEquals(render(engine, with(before, huge)).length, e.tokens());
            assertEquals(before, session.conversation());
            assertEquals(length, session.length());
        }
    }

    @Test
    void theBeginningOfSequenceTokenIsAddedOnceAndOnlyAtTheStart() throws Exception {
        DefaultEngine engine = EngineTestData.engine("tiny-spm-int4"); // add_bos: true, <s> = 1
        int[] start = engine.encode("hello", false);
        assertEquals(1, start[0]);
        assertTrue(start.length > 1 && start[1] != 1);
        assertTrue(engine.encode("hello", true)[0] != 1, "no BOS mid-sequence");
        int[] templated = engine.encode("<s>hello", false); // a template that writes bos_token itself
        assertArrayEquals(start, templated);
    }

    @Test
    void chatNeedsATemplateAndAMessage() throws Exception {
        BundleManifest manifest = BundleManifestReader.read(EngineTestData.bundle("tiny-bpe-fp32"), false);
        try (DefaultEngine engine = new DefaultEngine(
                new OrtBackendProvider().open(manifest.directory(), manifest, BackendOptions.DEFAULTS), "cpu", null,
                Tokenizers.open(manifest), null, 64);
             DefaultSession session = engine.newSession()) {
            assertThrows(IllegalArgumentException.class, () -> session.chat(List.of(), GenerationOptions.greedy(1), null));
            dev.skipper.api.SkipperException e = assertThrows(dev.skipper.api.SkipperException.class,
                    () -> session.chat(List.of(ChatMessage.user("x")), GenerationOptions.greedy(1), null));
            assertTrue(e.getMessage().contains("no chat template"), e.getMessage());
        }
    }
}
