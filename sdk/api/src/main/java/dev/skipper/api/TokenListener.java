package dev.skipper.api;

/** Receives generated text as it becomes printable (never a partial character or a stop string). */
@FunctionalInterface
public interface TokenListener {
    /**
     * @param text newly printable text (may be empty for tokens that complete nothing yet)
     * @param tokenId the token just generated
     */
    void onToken(String text, int tokenId);
}
