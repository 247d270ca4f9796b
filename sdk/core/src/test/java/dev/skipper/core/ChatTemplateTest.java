package dev.skipper.core;

import dev.skipper.api.ChatMessage;
import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifestReader;
import java.util.List;
import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Rendering of the common template families, and the sandbox. */
class ChatTemplateTest {
    /** ChatML as in SmolLM2 / Qwen: a default system turn when the conversation has none. */
    static final String CHATML = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
            + "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
            + "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
            + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    /** Llama 2 chat: system prompt folded into the first user turn, strict alternation. */
    static final String LLAMA2 = "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
            + "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
            + "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
            + "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
            + "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
            + "{% if loop.index0 == 0 and system_message != false %}"
            + "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
            + "{% else %}{% set content = message['content'] %}{% endif %}"
            + "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
            + "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}"
            + "{% endfor %}";

    /** Llama 3 instruct: header tokens, trimmed content, BOS written by the template. */
    static final String LLAMA3 = "{% set loop_messages = messages %}{% for message in loop_messages %}"
            + "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
            + " + message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
            + "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
            + "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

    static final List<ChatMessage> CONVERSATION = List.of(
            ChatMessage.system("Be brief."),
            ChatMessage.user(" Hi there "),
            new ChatMessage("assistant", "Hello!"),
            ChatMessage.user("What is 2+2?"));

    @Test
    void chatml() throws Exception {
        ChatTemplate t = new ChatTemplate(CHATML, "", "<|im_end|>");
        assertEquals("<|im_start|>system\nBe brief.<|im_end|>\n"
                + "<|im_start|>user\n Hi there <|im_end|>\n"
                + "<|im_start|>assistant\nHello!<|im_end|>\n"
                + "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
                + "<|im_start|>assistant\n", t.render(CONVERSATION, true));
        assertEquals("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                + "<|im_start|>user\nHi<|im_end|>\n", t.render(List.of(ChatMessage.user("Hi")), false));
    }

    @Test
    void llama2() throws Exception {
        ChatTemplate t = new ChatTemplate(LLAMA2, "<s>", "</s>");
        assertEquals("<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\n Hi there [/INST] Hello! </s>"
                + "<s>[INST] What is 2+2? [/INST]", t.render(CONVERSATION, true));
        SkipperException e = assertThrows(SkipperException.class,
                () -> t.render(List.of(ChatMessage.user("a"), ChatMessage.user("b")), true));
        assertTrue(e.getMessage().contains("Conversation roles must alternate"), e.getMessage());
    }

    @Test
    void llama3() throws Exception {
        ChatTemplate t = new ChatTemplate(LLAMA3, "<|begin_of_text|>", "<|eot_id|>");
        assertEquals("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n", t.render(CONVERSATION, true));
    }

    @Test
    void theCommonTemplatesArePrefixStable() throws Exception {
        for (ChatTemplate t : List.of(new ChatTemplate(CHATML, "", ""), new ChatTemplate(LLAMA2, "<s>", "</s>"),
                new ChatTemplate(LLAMA3, "<b>", ""))) {
            String first = t.render(CONVERSATION.subList(0, 2), true);
            String second = t.render(CONVERSATION, true);
            assertTrue(second.startsWith(first.strip()), t.source());
        }
    }

    @Test
    void blocksAreTrimmedAsInHuggingFace() throws Exception {
        String source = "{% for m in messages %}\n  {% if true %}\n[{{ m.content }}]\n  {% endif %}\n{% endfor %}\n";
        assertEquals("[a]\n[b]\n", new ChatTemplate(source, "", "").render(
                List.of(ChatMessage.user("a"), ChatMessage.user("b")), false));
    }

    @Test
    void messagesAreNeverInterpretedAsTemplates() throws Exception {
        ChatTemplate t = new ChatTemplate(CHATML, "", "");
        String sneaky = "{{ 7 * 7 }} {% for i in range(3) %}x{% endfor %} {{ ''.getClass() }}";
        String out = t.render(List.of(ChatMessage.system("s"), ChatMessage.user(sneaky)), false);
        assertTrue(out.contains(sneaky), out);
    }

    @Test
    void templatesCannotLoadFilesOrCallDangerousMethods() {
        for (String source : List.of("{% include '/etc/passwd' %}", "{% import 'x.j2' as x %}",
                "{% from 'x.j2' import y %}", "{% extends 'base.j2' %}", "{{ ''.getClass() }}")) {
            SkipperException e = assertThrows(SkipperException.class,
                    () -> new ChatTemplate(source, "", "").render(List.of(ChatMessage.user("u")), true), source);
            assertTrue(e.getMessage().startsWith("chat template failed"), e.getMessage());
        }
    }

    @Test
    void outputIsBounded() {
        String bomb = "{% set s = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' %}{% for i in range(64) %}{% set s = s ~ s %}{% endfor %}{{ s }}";
        SkipperException e = assertThrows(SkipperException.class,
                () -> new ChatTemplate(bomb, "", "").render(List.of(ChatMessage.user("u")), true));
        assertTrue(e.getMessage().contains("limit") || e.getMessage().contains("Too"), e.getMessage());
        String recursion = "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}";
        assertEndsBounded(recursion);
    }

    /**
     * Endless recursion must end within seconds, either refused (a one-line SkipperException) or
     * rendered to something bounded; any other exception or error (a stack overflow) fails the test.
     */
    private static void assertEndsBounded(String source) {
        String out = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(20), () -> {
            try {
                return new ChatTemplate(source, "", "").render(List.of(ChatMessage.user("u")), true);
            } catch (SkipperException e) {
                assertTrue(!e.getMessage().contains("\n") && e.getMessage().startsWith("chat template"), e.getMessage());
                return null;
            }
        });
        assertTrue(out == null || out.length() <= 1 << 20, () -> "unbounded output: " + out.length() + " chars");
    }

    @Test
    void syntaxErrorsFailWithOneLine() {
        SkipperException e = assertThrows(SkipperException.class,
                () -> new ChatTemplate("{% for m in messages %}\n{{ m.content ", "", "")
                        .render(List.of(ChatMessage.user("u")), true));
        assertTrue(!e.getMessage().contains("\n"), e.getMessage());
    }

    @Test
    void bundlesGiveTheirSpecialTokensAsBosAndEos() throws Exception {
        ChatTemplate smol = ChatTemplate.of(BundleManifestReader.read(EngineTestData.bundle("smollm2-fp32"), false))
                .orElseThrow();
        assertEquals("<|im_start|>", smol.bosToken());
        assertEquals("<|im_end|>", smol.eosToken());
        ChatTemplate spm = ChatTemplate.of(BundleManifestReader.read(EngineTestData.bundle("tiny-spm-int4"), false))
                .orElseThrow();
        assertEquals("<s>", spm.bosToken());
        assertEquals("</s>", spm.eosToken());
        // The SmolLM2 template adds its default system turn.
        assertEquals("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
                + "<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
                smol.render(List.of(ChatMessage.user("Hi")), true));
    }
}
