package dev.skipper.cli;

import dev.skipper.api.TokenListener;
import java.io.PrintWriter;

/** Streams generated text to a writer as it arrives, and ends the line afterwards if needed. */
final class StreamPrinter implements TokenListener {
    private final PrintWriter out;
    private boolean atLineStart = true;

    /** @param out where the text goes */
    StreamPrinter(PrintWriter out) {
        this.out = out;
    }

    @Override
    public void onToken(String text, int tokenId) {
        if (!text.isEmpty()) {
            out.print(text);
            out.flush();
            atLineStart = text.charAt(text.length() - 1) == '\n';
        }
    }

    /** Writes a newline unless the text so far ended with one (or there was none), then flushes. */
    void endLine() {
        if (!atLineStart) {
            out.println();
            atLineStart = true;
        }
        out.flush();
    }
}
