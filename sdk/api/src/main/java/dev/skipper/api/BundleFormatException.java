package dev.skipper.api;

import java.nio.file.Path;
import java.util.Objects;

/**
 * A bundle is malformed: its manifest is not valid YAML, misses a key, has a value of the wrong
 * type or out of range, lists a file that escapes the bundle or whose SHA-256 does not match, or
 * is internally inconsistent.
 *
 * <p>The message is one line: the manifest's path, its line when known, the key path and the
 * problem, for example
 * {@code /bundles/x/manifest.yaml:9: model.num_layers must be a positive integer, got -1}.
 */
public class BundleFormatException extends SkipperException {
    private static final long serialVersionUID = 1L;

    /** The manifest (or other file) the problem was found in. */
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
     * @param file the manifest (or other bundle file) where the problem is
     * @param line 1-based line in {@code file}, or 0 when unknown
     * @param keyPath dotted key path in the manifest, such as {@code model.num_layers}, or
     *     {@code null} when the problem is not about one key
     * @param problem what is wrong, such as {@code must be a positive integer, got -1}
     * @param cause the underlying exception, or {@code null}
     */
    public BundleFormatException(Path file, int line, String keyPath, String problem, Throwable cause) {
        super(format(file, line, keyPath, problem), cause);
        this.file = Objects.requireNonNull(file, "file");
        this.line = Math.max(0, line);
        this.keyPath = keyPath;
        this.problem = Objects.requireNonNull(problem, "problem");
    }

    /**
     * Creates the exception without a cause.
     *
     * @param file the manifest (or other bundle file) where the problem is
     * @param line 1-based line in {@code file}, or 0 when unknown
     * @param keyPath dotted key path, or {@code null}
     * @param problem what is wrong
     */
    public BundleFormatException(Path file, int line, String keyPath, String problem) {
        this(file, line, keyPath, problem, null);
    }

    private static String format(Path file, int line, String keyPath, String problem) {
        StringBuilder sb = new StringBuilder().append(file);
        if (line > 0) {
            sb.append(':').append(line);
        }
        sb.append(": ");
        if (keyPath != null && !keyPath.isEmpty()) {
            sb.append(keyPath).append(' ');
        }
        return sb.append(problem).toString().replace('\n', ' ').replace('\r', ' ');
    }

    /**
     * The file the problem was found in (usually the bundle's {@code manifest.yaml}).
     *
     * @return the file's path as given to the reader
     */
    public Path file() {
        return file;
    }

    /**
     * The line of the problem in {@link #file()}.
     *
     * @return the 1-based line, or 0 when unknown
     */
    public int line() {
        return line;
    }

    /**
     * The manifest key the problem is about, such as {@code graphs.layers[3].file}.
     *
     * @return the dotted key path, or {@code null} when the problem is not about one key
     */
    public String keyPath() {
        return keyPath;
    }

    /**
     * The problem alone, without the location.
     *
     * @return for example {@code must be a positive integer, got -1}
     */
    public String problem() {
        return problem;
    }
}
