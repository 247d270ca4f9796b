package dev.skipper.server;

import dev.skipper.api.ChatMessage;
import dev.skipper.api.GenerationOptions;
import java.util.List;

/**
 * A validated {@code /v1/chat/completions} or {@code /v1/completions} request.
 *
 * @param chat whether it is a chat request ({@code messages}) rather than a text completion ({@code prompt})
 * @param messages the whole conversation (chat), else empty
 * @param prompt the prompt text (completion), else {@code null}
 * @param options generation options with the request's fields applied over the server's defaults
 * @param stream whether the answer streams as server-sent events
 * @param includeUsage whether a stream ends with a usage chunk ({@code stream_options.include_usage})
 */
record CompletionRequest(boolean chat, List<ChatMessage> messages, String prompt, GenerationOptions options,
                         boolean stream, boolean includeUsage) {
    CompletionRequest {
        messages = List.copyOf(messages);
    }

    /**
     * What a session that served this request holds afterwards, as text to match a later request's
     * against (the pool prefers the session whose last request shares the longest prefix).
     *
     * @param reply the reply text
     * @return a key: the conversation with the reply as its last turn, or prompt + reply
     */
    String affinityKeyAfter(String reply) {
        return chat ? conversationKey(messages) + key("assistant", reply) : "\u0002" + prompt + reply;
    }

    /** @return the key of what this request needs the session to hold before generating */
    String affinityKey() {
        return chat ? conversationKey(messages) : "\u0002" + prompt;
    }

    private static String conversationKey(List<ChatMessage> turns) {
        StringBuilder sb = new StringBuilder("\u0001");
        for (ChatMessage m : turns) {
            sb.append(key(m.role(), m.content()));
        }
        return sb.toString();
    }

    private static String key(String role, String content) {
        return role + '\u0000' + content + '\u0003';
    }
}
