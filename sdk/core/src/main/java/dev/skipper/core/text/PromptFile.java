package dev.skipper.core.text;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Prompt files of the benchmarks: one prompt per line, blank lines skipped; inside a prompt the two
 * characters {@code \n} stand for a newline and {@code \\} for a backslash (so code and passages
 * fit on one line).
 */
public final class PromptFile {
    private PromptFile() {
    }

    /**
     * Reads a prompt file.
     *
     * @param file the file (UTF-8)
     * @return the prompts, in file order
     * @throws IOException if it cannot be read, is not UTF-8, or holds no prompt
     */
    public static List<String> read(Path file) throws IOException {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(Files.readAllBytes(file)))
                    .toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new IOException(file + ": not valid UTF-8", e);
        }
        List<String> prompts = new ArrayList<>();
        int lineNo = 0;
        for (String line : text.split("\r?\n", -1)) {
            lineNo++;
            if (line.isBlank()) {
                continue;
            }
            prompts.add(unescape(line, file, lineNo));
        }
        if (prompts.isEmpty()) {
            throw new IOException(file + ": no prompts (one per line)");
        }
        return prompts;
    }

    /**
     * Undoes the line escapes.
     *
     * @param line one line of a prompt file
     * @param file the file (for the message)
     * @param lineNo the line number (for the message)
     * @return the prompt
     * @throws IOException on a backslash followed by anything but {@code n} or a backslash
     */
    static String unescape(String line, Path file, int lineNo) throws IOException {
        StringBuilder out = new StringBuilder(line.length());
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (c != '\\') {
                out.append(c);
                continue;
            }
            char next = i + 1 < line.length() ? line.charAt(i + 1) : '\0';
            if (next == 'n') {
                out.append('\n');
            } else if (next == '\\') {
                out.append('\\');
            } else {
                throw new IOException(file + ":" + lineNo + ": '\\' must be followed by 'n' or '\\' (column "
                        + (i + 1) + ")");
            }
            i++;
        }
        return out.toString();
    }
}
