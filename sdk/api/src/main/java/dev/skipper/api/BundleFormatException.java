package dev.skipper.api;

import java.nio.file.Path;

/**
 * A bundle is malformed: its manifest is not valid YAML, misses a key, has a value of the wrong
 * type or out of range, lists a file that escapes the bundle or whose SHA-256 does not match, or
 * is internally inconsistent.
 *
 * <p>The message is one line: the manifest's path, its line when known, the key path and the
 * problem, for example
 * {@code /bundles/x/manifest.yaml:9: model.num_layers must be a positive integer, got -1}.
 */
public class BundleFormatException extends LocatedException {
    private static final long serialVersionUID = 1L;

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
        super(file, line, keyPath, " ", problem, cause);
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
}
