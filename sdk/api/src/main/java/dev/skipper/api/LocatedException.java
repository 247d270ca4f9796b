package dev.skipper.api;

import java.nio.file.Path;
import java.util.Objects;

/**
 * An error found at a place in a file (a bundle manifest, a deployment file): the one-line message
 * is {@code FILE[:LINE]: [KEY.PATH<sep>]PROBLEM}, and each part stays available on its own.
 */
public class LocatedException extends SkipperException {
    private static final long serialVersionUID = 1L;

    /** The file the problem was found in. */
    private final transient Path file;
    /** 1-based line in {@link #file}, or 0. */
    private final int line;
    /** Dotted key path, or {@code null}. */
    private final String keyPath;
    /** The problem without the location. */
    private final String problem;

    /**
     * Creates the exception.
     *
     * @param file the file where the problem is
     * @param line 1-based line in {@code file}, or 0 when unknown
     * @param keyPath dotted key path, or {@code null} when the problem is not about one key
     * @param keySeparator text between the key path and the problem in the message
     * @param problem what is wrong
     * @param cause the underlying exception, or {@code null}
     */
    protected LocatedException(Path file, int line, String keyPath, String keySeparator, String problem, Throwable cause) {
        super(format(file, line, keyPath, keySeparator, problem), cause);
        this.file = Objects.requireNonNull(file, "file");
        this.line = Math.max(0, line);
        this.keyPath = keyPath;
        this.problem = Objects.requireNonNull(problem, "problem");
    }

    private static String format(Path file, int line, String keyPath, String keySeparator, String problem) {
        StringBuilder sb = new StringBuilder().append(file);
        if (line > 0) {
            sb.append(':').append(line);
        }
        sb.append(": ");
        if (keyPath != null && !keyPath.isEmpty()) {
            sb.append(keyPath).append(keySeparator);
        }
        // One line, whatever the problem text holds.
        return sb.append(problem).toString().replace('\n', ' ').replace('\r', ' ');
    }

    /** @return the file's path as given to the reader */
    public Path file() {
        return file;
    }

    /** @return the 1-based line, or 0 when unknown */
    public int line() {
        return line;
    }

    /** @return the dotted key path, or {@code null} when the problem is not about one key */
    public String keyPath() {
        return keyPath;
    }

    /** @return the problem alone, without the location */
    public String problem() {
        return problem;
    }
}
