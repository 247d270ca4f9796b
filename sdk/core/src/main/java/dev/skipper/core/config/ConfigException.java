package dev.skipper.core.config;

import dev.skipper.api.LocatedException;
import java.nio.file.Path;

/**
 * A deployment file is invalid. The message is one line, {@code FILE:LINE: key.path: problem}, for
 * example {@code configs/x.yaml:7: generation.sampling.top_p: must be a number in (0, 1], got 1.5};
 * the line is left out when unknown and the key path when the problem is not about one key.
 */
public class ConfigException extends LocatedException {
    private static final long serialVersionUID = 1L;

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
        super(file, line, keyPath == null || keyPath.isEmpty() ? null : keyPath, ": ", problem, cause);
    }
}
