package dev.skipper.core.config;

import dev.skipper.api.SkipperException;
import java.nio.file.Path;
import java.util.Objects;

/**
 * A deployment file is invalid. The message is one line, {@code FILE:LINE: key.path: problem}, for
 * example {@code configs/x.yaml:7: generation.sampling.top_p: must be a number in (0, 1], got 1.5};
 * the line is left out when unknown and the key path when the problem is not about one key.
 */
public class ConfigException extends SkipperException {
    private static final long serialVersionUID = 1L;

    /** The deployment file. */
    private final transient Path file;
    /** 1-based line, or 0. */
    private final int line;
    /** Dotted key path, or {@code null}. */
    private final String keyPath;
    /** The problem without the location. */
    private final String problem;

    /**
     * Creates the exception.
     *
     * @param file the deployment file, as the caller named it
     * @param line 1-based line of the problem, or 0 when unknown
     * @param keyPath dotted key path such as {@code generation.sampling.top_k} or {@code backend[1]},
     *     or {@code null}
     * @param problem what is wrong
     * @param cause the underlying exception, or {@code null}
     */
    public ConfigException(Path file, int line, String keyPath, String problem, Throwable cause) {
        super(format(file, line, keyPath, problem), cause);
        this.file = Objects.requireNonNull(file, "file");
        this.line = Math.max(0, line);
        this.keyPath = keyPath == null || keyPath.isEmpty() ? null : keyPath;
        this.problem = Objects.requireNonNull(problem, "problem");
    }

    private static String format(Path file, int line, String keyPath, String problem) {
        StringBuilder sb = new StringBuilder().append(file);
        if (line > 0) {
            sb.append(':').append(line);
        }
        sb.append(": ");
        if (keyPath != null && !keyPath.isEmpty()) {
            sb.append(keyPath).append(": ");
        }
        return sb.append(problem).toString().replace('\n', ' ').replace('\r', ' ');
    }

    /**
     * The deployment file.
     *
     * @return its path as given to the loader
     */
    public Path file() {
        return file;
    }

    /**
     * The line of the problem.
     *
     * @return 1-based line, or 0 when unknown
     */
    public int line() {
        return line;
    }

    /**
     * The key the problem is about.
     *
     * @return a dotted key path such as {@code speculation.mode}, or {@code null}
     */
    public String keyPath() {
        return keyPath;
    }

    /**
     * The problem alone.
     *
     * @return for example {@code must be true or false, got 'no'}
     */
    public String problem() {
        return problem;
    }
}
