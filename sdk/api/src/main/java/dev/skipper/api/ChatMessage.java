package dev.skipper.api;

/**
 * One chat turn.
 *
 * @param role {@code system}, {@code user} or {@code assistant}
 * @param content the text
 */
public record ChatMessage(String role, String content) {
    /** Validates. */
    public ChatMessage {
        if (!role.equals("system") && !role.equals("user") && !role.equals("assistant")) {
            throw new IllegalArgumentException("role must be system, user or assistant, got '" + role + "'");
        }
        if (content == null) {
            throw new IllegalArgumentException("content must not be null");
        }
    }

    /** @param content text @return a user turn */
    public static ChatMessage user(String content) {
        return new ChatMessage("user", content);
    }

    /** @param content text @return a system turn */
    public static ChatMessage system(String content) {
        return new ChatMessage("system", content);
    }
}
